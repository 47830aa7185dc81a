"""The catalogs are complete and in step with the code, and a broken one is caught.

This is the check that keeps translations honest: a message added to the code and not to every
catalog, a fuzzy or empty translation, or a translation whose placeholders differ from the
English ones fails here (run `make catalogs`, then translate; docs/translating.md).
"""

from __future__ import annotations

import shutil
import tomllib
from dataclasses import replace
from fnmatch import fnmatch
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from pydantic import Field, SecretStr

from guardian import catalogs, i18n
from guardian.plugin import HookRequest, PluginRegistry, PluginSettings, PushPlugin, Received

ROOT = Path(__file__).parent.parent


def test_every_catalog_is_complete_and_in_step_with_the_code() -> None:
    assert catalogs.problems() == []


def test_every_language_has_a_catalog_and_every_catalog_a_language() -> None:
    found = {p.parent.parent.name for p in i18n.LOCALE_DIR.glob("*/LC_MESSAGES/guardian.po")}
    assert found == set(i18n.LANGUAGES) - {i18n.SOURCE_LANGUAGE}
    assert set(i18n.NAMES) == set(i18n.LOCALES) == set(i18n.LANGUAGES)


def test_the_messages_are_extracted_with_their_notes_for_translators() -> None:
    template = catalogs.extract()
    summary_line = template.get("{who}: {messages}, {when}")
    assert summary_line is not None
    note = 'one line of a summary: "Sophie: 40 messages, 23:00–23:39".'
    assert summary_line.auto_comments == [note]
    assert "python-brace-format" in summary_line.flags
    assert template.get("Many messages for {child} tonight", context="night") is not None
    plural = template.get(("{n} message", "{n} messages"))
    assert plural is not None and plural.pluralizable


def _template() -> Catalog:
    template = Catalog(locale=None)
    template.add("Hello {name}")
    template.add(("{n} message", "{n} messages"))
    template.add("Nothing to report.")
    return template


def test_a_broken_catalog_is_caught() -> None:
    catalog = catalogs.new_catalog("nl")
    catalog.add("Hello {name}", "Hoi {naam}")  # a renamed placeholder
    catalog.add(("{n} message", "{n} messages"), ("{n} bericht", ""))  # one form empty
    catalog.add("An old message", "Een oud bericht")  # left over
    found = catalogs.catalog_problems("nl", catalog, _template())
    assert [problem.split(": ", 1)[1] for problem in found] == [
        "'Hello {name}': placeholders ['naam'] in 'Hoi {naam}', but the English has ['name']",
        "'{n} message': not translated",
        "'Nothing to report.': missing",
        "'An old message' is no longer in the code (run `make catalogs`)",
    ]


def test_a_fuzzy_translation_and_bad_braces_are_caught() -> None:
    catalog = catalogs.new_catalog("de")
    catalog.add("Hello {name}", "Hallo {name", flags={"fuzzy"})
    catalog.add(("{n} message", "{n} messages"), ("{n} Nachricht", "{n} Nachrichten"))
    catalog.add("Nothing to report.", "Nichts zu berichten.")
    found = catalogs.catalog_problems("de", catalog, _template())
    assert len(found) == 2
    assert "fuzzy" in found[0]
    assert "'Hello {name}'" in found[1] and "expected '}'" in found[1]


def test_wrong_plural_rules_are_caught() -> None:
    catalog = Catalog(locale="en", domain=i18n.DOMAIN)  # English plural rules in a French file
    catalog.add("Nothing to report.", "Rien à signaler.")
    template = Catalog(locale=None)
    template.add("Nothing to report.")
    [problem] = catalogs.catalog_problems("fr", catalog, template)
    assert "Plural-Forms is not CLDR's" in problem


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("{who}: {messages}, {when}", {"who", "messages", "when"}),
        ("Quiet until %(time)s", {"time"}),  # a dashboard template's Jinja message
        ("no placeholder", set()),
    ],
)
def test_placeholders(text: str, names: set[str]) -> None:
    assert catalogs.placeholders(text) == names


def test_the_catalogs_are_package_data() -> None:
    """A wheel carries every catalog: each file under guardian/locale/ matches package-data."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["guardian"]
    package = ROOT / "guardian"
    files = [p.relative_to(package).as_posix() for p in i18n.LOCALE_DIR.rglob("*") if p.is_file()]
    assert files
    assert [f for f in files if not any(fnmatch(f, pattern) for pattern in patterns)] == []


def test_the_dashboards_messages_are_extracted_from_its_templates_and_code() -> None:
    template = catalogs.extract()

    def where(message: str | tuple[str, str], context: str | None = None) -> list[str]:
        found = template.get(message, context=context)
        assert found is not None, message
        return [path for path, _ in found.locations]

    assert "guardian/dashboard/templates/tonight.html" in where("Tonight")
    assert "guardian/dashboard/__init__.py" in where("Tonight")  # the navigation's link
    assert "guardian/dashboard/people.py" in where("Saved the name {name}.")
    assert "guardian/dashboard/templates/base.html" in where("Change", "language menu")
    failed = ("{n} message could not be delivered", "{n} messages could not be delivered")
    assert "guardian/dashboard/templates/tonight_members.html" in where(failed)
    logout = template.get("Log out {username}")
    assert logout is not None and "python-brace-format" in logout.flags
    assert logout.auto_comments == [
        'the logout button; {username} is the login\'s name (e.g. "anna").'
    ]


@pytest.mark.parametrize(
    ("broken", "said"),
    [("missing", "missing"), ("fuzzy", "fuzzy"), ("placeholder", "placeholders ['naam']")],
)
def test_a_dashboard_message_broken_in_a_catalog_is_caught(broken: str, said: str) -> None:
    template = catalogs.extract()
    catalog = catalogs.read(i18n.catalog_path("nl"))
    message = "Log out {username}"
    del catalog[message]
    if broken == "fuzzy":
        catalog.add(message, "{username} afmelden", flags={"fuzzy"})
    elif broken == "placeholder":
        catalog.add(message, "{naam} afmelden")
    found = [p for p in catalogs.catalog_problems("nl", catalog, template) if f"{message!r}" in p]
    assert len(found) == 1 and said in found[0], found


# The plugins' settings: the built-in plugins' own catalogs, held to the same rules.


def test_every_language_has_a_catalog_of_the_plugins_settings() -> None:
    folder = catalogs.BUILTIN_PLUGINS.locale_dir
    found = {p.parent.parent.name for p in folder.glob("*/LC_MESSAGES/guardian-plugins.po")}
    assert found == set(i18n.LANGUAGES) - {i18n.SOURCE_LANGUAGE}
    assert catalogs.problems([catalogs.BUILTIN_PLUGINS]) == []


def test_the_plugins_settings_are_extracted_with_their_labels_and_help() -> None:
    template = catalogs.BUILTIN_PLUGINS.extract()
    label = template.get("Host")
    assert label is not None
    assert [path for path, _ in label.locations] == ["plugins/imap.py"]
    assert label.auto_comments == ["a setting's label (ImapPlugin, host)"]
    shared = template.get("Access token")  # one message, wherever the same label is
    assert shared is not None and len(shared.locations) == 2
    help_ = template.get("the IMAP server, e.g. imap.example.org")
    assert help_ is not None
    assert help_.auto_comments == ["the help under the setting 'Host' (ImapPlugin, host)"]
    every = {p.__name__ for p in catalogs.builtin_plugins()}
    assert {"WebhookPlugin", "ImapPlugin", "TelegramPollPlugin"} <= every and len(every) == 12


@pytest.mark.parametrize(
    ("broken", "said"),
    [("missing", "missing"), ("fuzzy", "fuzzy"), ("placeholder", "placeholders ['adres']")],
)
def test_a_plugin_setting_broken_in_a_catalog_is_caught(
    broken: str, said: str, tmp_path: Path
) -> None:
    """Through `problems()`, on a copy of the built-in plugins' catalogs with one message
    broken in Dutch."""
    shutil.copytree(catalogs.BUILTIN_PLUGINS.locale_dir, tmp_path, dirs_exist_ok=True)
    copy = replace(catalogs.BUILTIN_PLUGINS, locale_dir=tmp_path)
    assert catalogs.problems([copy]) == []
    dutch = catalogs.read(copy.path("nl"), copy.domain)
    message = "Home Assistant's URL, e.g. http://homeassistant.local:8123"
    del dutch[message]
    if broken == "fuzzy":
        dutch.add(message, "Het adres van Home Assistant", flags={"fuzzy"})
    elif broken == "placeholder":
        dutch.add(message, "Het {adres} van Home Assistant")
    catalogs.write(dutch, copy.path("nl"))
    [problem] = catalogs.problems([copy])
    assert problem.startswith(f"nl ({copy.path('nl')}): {message!r}: {said}"), problem


def test_a_setting_the_catalogs_do_not_have_yet_is_caught(tmp_path: Path) -> None:
    """A new setting (or a changed description) fails until `make catalogs` and a translator
    have done their part."""
    shutil.copytree(catalogs.BUILTIN_PLUGINS.locale_dir, tmp_path, dirs_exist_ok=True)

    def with_a_new_setting() -> Catalog:
        template = catalogs.BUILTIN_PLUGINS.extract()
        template.add("Shiny new setting", locations=[("plugins/imap.py", 0)])
        return template

    copy = replace(catalogs.BUILTIN_PLUGINS, locale_dir=tmp_path, extract=with_a_new_setting)
    found = catalogs.problems([copy])
    assert found[0] == (
        "guardian-plugins.pot: 'Shiny new setting' is in the code but not here (make catalogs)"
    )
    assert [p.split(": ", 1)[1] for p in found[1:]] == ["'Shiny new setting': missing"] * 4


def test_the_plugins_catalogs_are_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["plugins"]
    folder = catalogs.BUILTIN_PLUGINS.locale_dir
    files = [p.relative_to(folder.parent).as_posix() for p in folder.rglob("*") if p.is_file()]
    assert len(files) == 5
    assert [f for f in files if not any(fnmatch(f, pattern) for pattern in patterns)] == []


class _Settings(PluginSettings):
    key: SecretStr = Field(title="Loft key", description="from the loft's settings page")


class _Translated(PushPlugin[_Settings]):
    settings_model = _Settings
    gettext_domain = "guardian-loft"

    async def receive(self, request: HookRequest) -> Received:
        return Received()


class _Untranslated(_Translated):
    gettext_domain = None


def test_a_third_party_plugins_catalogs_are_made_and_checked_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plugin = type("Loft", (_Translated,), {"locale_dir": tmp_path})
    registry = PluginRegistry.of({"loft": plugin, "plain": _Untranslated})
    assert catalogs.main(["plugin", "loft"], registry) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"catalogs in {tmp_path} updated; 8 to do"  # 2 messages, 4 languages
    assert f"de ({tmp_path}/de/LC_MESSAGES/guardian-loft.po): 'Loft key': not translated" in out
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.po*"))
    assert written == [
        "de/LC_MESSAGES/guardian-loft.po",
        "es/LC_MESSAGES/guardian-loft.po",
        "fr/LC_MESSAGES/guardian-loft.po",
        "guardian-loft.pot",
        "nl/LC_MESSAGES/guardian-loft.po",
    ]
    french = catalogs.read(tmp_path / "fr" / "LC_MESSAGES" / "guardian-loft.po")
    assert french.plural_forms == catalogs.new_catalog("fr").plural_forms  # CLDR's rules
    assert catalogs.main(["plugin", "plain"], registry) == 1
    assert catalogs.main(["plugin", "nowhere"], registry) == 1
    assert "no plugin of that name" in capsys.readouterr().err
