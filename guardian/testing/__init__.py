"""The test kit for plugin authors: a plugin mounted in a real Guardian, and the conformance suites.

`mount` starts the real app (`guardian.app.create_app`) on a virtual clock and a throwaway SQLite
file, with one member `mia` and one source `under-test` using the plugin, and serves it over real
HTTP on localhost: send it signed requests, read back what was stored. The plugin needs not be
installed. `check_conformance` runs the checks every plugin must pass against a `PluginCase`, and
`conformance_tests` turns them into one pytest test per check:

    CASE = PluginCase(plugin=PigeonpostPlugin, settings={...}, secrets=[...], message=..., ...)
    test_conformance = conformance_tests(CASE)

pytest is imported only by `conformance_tests`; the rest needs no test framework.

Plugin authors import everything from here. Inside: `harness` (mount, served, the settings
file), `push` (the webhook plugins' suite), `pull` (the pull plugins' suite); both suites build
on the harness, and neither imports the other.
"""

from guardian.testing.harness import (
    CONFORMANCE_NOW,
    MEMBER_ID,
    SOURCE_ID,
    Mounted,
    Reply,
    Served,
    SignedRequest,
    StoredNotification,
    check_plugin_settings,
    mount,
    plugin_instance,
    pull_batches,
    served,
    settings_text,
)
from guardian.testing.pull import (
    PullCase,
    PullNetwork,
    check_pull_conformance,
    pull_conformance_tests,
)
from guardian.testing.push import (
    WRONG_SECRET,
    PluginCase,
    Signing,
    check_conformance,
    check_settings_errors,
    conformance_checks,
    conformance_tests,
)

__all__ = [
    "CONFORMANCE_NOW",
    "MEMBER_ID",
    "SOURCE_ID",
    "WRONG_SECRET",
    "Mounted",
    "PluginCase",
    "PullCase",
    "PullNetwork",
    "Reply",
    "Served",
    "SignedRequest",
    "Signing",
    "StoredNotification",
    "check_conformance",
    "check_plugin_settings",
    "check_pull_conformance",
    "check_settings_errors",
    "conformance_checks",
    "conformance_tests",
    "mount",
    "plugin_instance",
    "pull_batches",
    "pull_conformance_tests",
    "served",
    "settings_text",
]
