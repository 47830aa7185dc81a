"""Apprise's services imported as channels need them (guardian.apprise_services): the one
module a URL's scheme names, and all of them for a URL no one module is known to read.

Each check runs in a fresh interpreter: what a process has already imported is the point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from guardian.apprise_services import scheme_index

ROOT = Path(__file__).resolve().parent.parent


def run(code: str) -> object:
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


#: What Apprise's own loader registers, scheme by scheme: the class and its module.
EVERYTHING = """
import json
from apprise.manager_plugins import NotificationManager
manager = NotificationManager()
manager.load_modules()
print(json.dumps({s: [c.__module__, c.__qualname__] for s, c in manager._schema_map.items()}))
"""

#: The same, one scheme at a time through Guardian's reading of a URL.
ONE_BY_ONE = """
import json, sys
from guardian.channels import apprise_reading
from guardian import apprise_services
from apprise.manager_plugins import NotificationManager
manager = NotificationManager()
found = {}
for schema in json.loads(sys.argv[1]):
    apprise_reading(schema + "://user:password@example.org/path")
    plugin = manager._schema_map.get(schema)
    found[schema] = [plugin.__module__, plugin.__qualname__] if plugin else None
print(json.dumps({"found": found, "everything": apprise_services._everything}))
"""


def test_each_scheme_is_served_by_the_class_apprises_own_loader_gives_it() -> None:
    everything = run(EVERYTHING)
    assert isinstance(everything, dict) and len(everything) > 200
    index = scheme_index()
    # The index names the module Apprise's loader took each scheme from...
    for schema, (module, _) in everything.items():
        if schema in index:
            assert f"{module}.".startswith(f"apprise.plugins.{index[schema]}."), schema
    # ...and knows nearly all (the rest load every service, as Apprise would).
    unknown = sorted(set(everything) - set(index))
    assert len(unknown) <= 10, unknown
    # Loaded lazily, one by one, each scheme gets the very same class.
    for batch in (sorted(index.keys() & everything.keys()), unknown):
        result = subprocess.run(
            [sys.executable, "-c", ONE_BY_ONE, json.dumps(batch)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout.strip().splitlines()[-1])
        assert answer["found"] == {schema: everything[schema] for schema in batch}
        assert answer["everything"] is (batch == unknown)


def test_a_json_channel_imports_one_service_and_none_of_the_others_libraries() -> None:
    loaded = run(
        """
import json, sys
import guardian.delivery
from guardian.channels import apprise_reading, refusal
assert apprise_reading("json://127.0.0.1:9/hook")["schema"] == "json"
assert refusal("jsons://127.0.0.1:9/hook") is None
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("apprise.plugins.", "crypto")))))
"""
    )
    assert loaded == ["apprise.plugins.base", "apprise.plugins.custom_json"]


def test_a_native_url_and_an_unknown_scheme_are_read_as_apprise_reads_them() -> None:
    answer = run(
        """
import json
from guardian.channels import apprise_reading, refusal
from guardian import apprise_services
native = apprise_reading("https://discord.com/api/webhooks/4321/abcdefgh")
print(json.dumps({
    "native": native and native["schema"],
    "unknown": apprise_reading("nosuchservice://x"),
    "everything": apprise_services._everything,
    "desktop": refusal("kde://"),
}))
"""
    )
    assert answer == {
        "native": "discord",
        "unknown": None,
        "everything": True,
        "desktop": answer["desktop"],
    }
    assert isinstance(answer["desktop"], str) and "desktop" in answer["desktop"]


def test_the_demo_console_channel_is_registered_without_loading_the_services() -> None:
    loaded = run(
        """
import json, sys
import guardian.delivery
from guardian.channels import apprise_reading
from apprise.manager_plugins import NotificationManager
assert apprise_reading("console://")["schema"] == "console"
assert "console" in NotificationManager()._schema_map
print(json.dumps(len([m for m in sys.modules if m.startswith("apprise.plugins.")])))
"""
    )
    assert loaded == 1  # apprise.plugins.base


def test_an_apprise_whose_registry_is_not_as_expected_loads_everything_as_before() -> None:
    answer = run(
        """
import json, sys
from apprise.manager_plugins import NotificationManager
from guardian import apprise_services
from guardian.channels import apprise_reading
NotificationManager().unload_modules()  # as before guardian.channels started it lazily
apprise_services._RELIED_ON += ("_a_part_a_new_release_renamed",)
apprise_services.start_lazily()
print(json.dumps({
    "schema": apprise_reading("json://127.0.0.1:9/hook")["schema"],
    "services": len([m for m in sys.modules if m.startswith("apprise.plugins.")]),
}))
"""
    )
    assert isinstance(answer, dict) and answer["schema"] == "json"
    assert answer["services"] > 100
