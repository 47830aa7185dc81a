"""Guardian's built-in plugins, one network per module, registered as entry points like any other.

Their settings read in the dashboard's language from their own catalogs, as a third party's do:
`plugins/locale/<code>/LC_MESSAGES/guardian-plugins.po`, kept in step by `make catalogs`.
"""

from pathlib import Path

GETTEXT_DOMAIN = "guardian-plugins"
LOCALE_DIR = Path(__file__).parent / "locale"
