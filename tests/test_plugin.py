"""Plugins: found through entry points like any third party's, isolated when broken, both kinds;
and the tutorial's example package, built, installed and tested as its author would."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import timedelta
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import guardian
import guardian.testing
from guardian.clock import VirtualClock
from guardian.plugin import (
    ENTRY_POINT_GROUP,
    HookRequest,
    IncomingMessage,
    PluginRegistry,
    PluginSettings,
    PullBatch,
    PullPlugin,
    PushPlugin,
    Received,
)
from guardian.settings import load_settings
from guardian.signatures import signed_headers
from guardian.testing import plugin_instance, pull_batches
from plugins.webhook import WebhookPlugin
from tests.conftest import SECRET, Start, at, message, settings_toml

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "plugin-example"
QUIET = at("2026-11-25T23:00:00+01:00")
BROKEN = EntryPoint(name="broken", value="no_such_module:Plugin", group=ENTRY_POINT_GROUP)
NO_MODULE = "ModuleNotFoundError: No module named 'no_such_module'"


def test_the_builtin_webhook_is_found_like_any_third_party_plugin() -> None:
    [entry] = [e for e in entry_points(group=ENTRY_POINT_GROUP) if e.name == "webhook"]
    assert entry.value == "plugins.webhook:WebhookPlugin"
    info = PluginRegistry.discover().plugins["webhook"]
    assert (info.package, info.version, info.kind) == ("guardian", guardian.__version__, "push")
    assert (info.plugin, info.error) == (WebhookPlugin, None)


def test_a_plugin_that_fails_to_import_is_reported_while_the_others_load(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = PluginRegistry.discover(extra=[BROKEN])
    assert registry.broken() == {"broken": NO_MODULE}
    assert registry.plugins["broken"].package == "no_such_module"
    assert registry.loaded()["webhook"] is WebhookPlugin
    assert "broken" not in registry.settings_models()
    assert f"plugin broken failed to load: {NO_MODULE}" in caplog.text


class NoSettings(PushPlugin[Any]):
    async def receive(self, request: HookRequest) -> Received:
        return Received()


class Unfinished(PushPlugin[PluginSettings]):
    settings_model = PluginSettings


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("json:dumps", "TypeError: json:dumps is not a guardian PushPlugin or PullPlugin class"),
        ("tests.test_plugin:NoSettings", "has no settings_model"),
        ("tests.test_plugin:Unfinished", "does not implement receive"),
    ],
    ids=["not-a-plugin", "no-settings-model", "abstract"],
)
def test_what_is_not_a_usable_plugin_is_refused_at_load(value: str, error: str) -> None:
    entry = EntryPoint(name="odd", value=value, group=ENTRY_POINT_GROUP)
    registry = PluginRegistry.discover(extra=[entry])
    assert error in registry.broken()["odd"]
    assert "odd" not in registry.loaded()


def test_a_registry_of_given_classes_checks_them_the_same_way() -> None:
    registry = PluginRegistry.of({"webhook": WebhookPlugin, "odd": Unfinished})
    assert registry.loaded() == {"webhook": WebhookPlugin}
    assert "does not implement receive" in registry.broken()["odd"]
    assert registry.plugins["webhook"].package == "plugins"


# Pull plugins: the interface, run against a small fake network (a real HTTP server).


class LoftSettings(PluginSettings):
    url: str


class LoftPoller(PullPlugin[LoftSettings]):
    """Polls a loft's `/events?after=N`; the cursor is the last event's sequence number."""

    settings_model = LoftSettings

    async def pull(self, cursor: str | None) -> AsyncIterator[PullBatch]:
        assert self.context.session is not None
        after = int(cursor or 0)
        while True:
            url = f"{self.settings.url}/events"
            async with self.context.session.get(url, params={"after": after}) as response:
                events = await response.json()
            if not events:
                await self.context.clock.sleep(30)
                continue
            after = events[-1]["seq"]
            messages = [
                IncomingMessage(external_id=f"loft-{e['seq']}", network="loft", sender_id=e["from"])
                for e in events
                if e["event"] == "message"
            ]
            yield PullBatch(messages, cursor=str(after))


def test_a_pull_plugin_is_registered_with_its_kind() -> None:
    entry = EntryPoint(name="loft", value="tests.test_plugin:LoftPoller", group=ENTRY_POINT_GROUP)
    registry = PluginRegistry.discover(extra=[entry])
    assert registry.plugins["loft"].kind == "pull"
    assert registry.pulling()["loft"] is LoftPoller  # beside the built-in pull plugins
    assert "loft" not in registry.loaded()  # the hook route serves push plugins only
    assert registry.settings_models()["loft"] is LoftSettings
    assert inspect.isasyncgenfunction(LoftPoller.pull)


async def test_a_pull_plugin_resumes_from_the_cursor_guardian_stored(aiohttp_server: Any) -> None:
    loft: list[dict[str, Any]] = [
        {"seq": 1, "event": "message", "from": "pigeon-1"},
        {"seq": 2, "event": "delivered", "from": "loft-7"},
        {"seq": 3, "event": "message", "from": "pigeon-2"},
    ]
    polled = asyncio.Event()

    async def events(request: web.Request) -> web.Response:
        polled.set()
        after = int(request.query["after"])
        return web.json_response([e for e in loft if e["seq"] > after])

    app = web.Application()
    app.router.add_get("/events", events)
    server = await aiohttp_server(app)
    clock = VirtualClock(QUIET)
    url = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as session:
        poller = plugin_instance(LoftPoller, {"url": url}, session=session, clock=clock)
        [first] = await pull_batches(poller, None, 1)
        assert [m.external_id for m in first.messages] == ["loft-1", "loft-3"]
        assert first.cursor == "3"
        # Guardian stored cursor "3" with those messages; after a restart it pulls from there.
        loft.append({"seq": 4, "event": "message", "from": "pigeon-1"})
        restarted = plugin_instance(LoftPoller, {"url": url}, session=session, clock=clock)
        [second] = await pull_batches(restarted, first.cursor, 1)
        assert [m.external_id for m in second.messages] == ["loft-4"]
        # Nothing new: the plugin waits on Guardian's clock, so a test moves it on.
        polled.clear()
        waiting = asyncio.create_task(pull_batches(restarted, second.cursor, 1))
        await polled.wait()
        loft.append({"seq": 5, "event": "message", "from": "pigeon-3"})
        async with asyncio.timeout(5):
            while not waiting.done():
                await clock.advance(timedelta(seconds=30))
                await asyncio.sleep(0.01)
        [third] = waiting.result()
        assert (third.cursor, third.messages[0].sender_address) == ("5", "loft:pigeon-3")


# Isolation in the running app: a source whose plugin is missing, broken, refuses its settings
# or fails to start.


class Exploding(PushPlugin[PluginSettings]):
    settings_model = PluginSettings

    def __init__(self, context: Any) -> None:
        raise RuntimeError("the network is down")

    async def receive(self, request: HookRequest) -> Received:
        raise AssertionError("never started")


async def test_unusable_sources_are_reported_in_readyz_while_the_others_accept(
    tmp_path: Path, start_guardian: Start, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "settings.toml"
    extra = """
        [[sources]]
        id = "mia-pigeons"
        plugin = "pigeonpost"
        member = "mia"
        signing_key = "pigeon-key-not-installed"

        [[sources]]
        id = "mia-weak"
        plugin = "webhook"
        member = "mia"
        secret = "whsec_c2hvcnQ="

        [[sources]]
        id = "mia-broken"
        plugin = "broken"
        member = "mia"

        [[sources]]
        id = "mia-exploding"
        plugin = "exploding"
        member = "mia"
        """
    path.write_text(settings_toml(tmp_path / "guardian.db", extra=extra))
    # Checked without the plugins' models: as if the plugins had changed since the settings were.
    settings = load_settings(path)
    exploding = EntryPoint("exploding", "tests.test_plugin:Exploding", ENTRY_POINT_GROUP)
    registry = PluginRegistry.discover(extra=[BROKEN, exploding])
    client = (await start_guardian(settings, QUIET, registry=registry)).client
    ready = await client.get("/readyz")
    text = await ready.text()
    sources = json.loads(text)["checks"]["sources"]
    assert sources["mia-phone"] == sources["mia-bridge"] == "ok"
    assert sources["mia-pigeons"] == "plugin 'pigeonpost': not installed"
    assert sources["mia-weak"].startswith("secret: ")  # the field is named
    assert sources["mia-broken"] == f"plugin 'broken': {NO_MODULE}"
    assert sources["mia-exploding"] == "RuntimeError: the network is down"
    for secret in ("whsec_c2hvcnQ=", "c2hvcnQ", "pigeon-key-not-installed"):
        assert secret not in text
        assert secret not in caplog.text
    raw = json.dumps(message(1)).encode()
    headers = signed_headers(SECRET, "wh-1", QUIET, raw)
    accepted = await client.post("/hooks/mia-phone", data=raw, headers=headers)
    assert accepted.status == 202
    refused = await client.post("/hooks/mia-weak", data=raw, headers=headers)
    assert refused.status == 503
    assert (await refused.json())["error"] == "source_unavailable"


# `guardian plugins`, as a user runs it.


def run(*args: str, cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`python ARGS` in a subprocess, with `pythonpath` first on the module path."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


LOFT_MODULE = """
from collections.abc import AsyncIterator

from guardian import PluginSettings, PullBatch, PullPlugin


class Loft(PullPlugin[PluginSettings]):
    \"\"\"A pull plugin that never yields.\"\"\"

    settings_model = PluginSettings

    async def pull(self, cursor: str | None) -> AsyncIterator[PullBatch]:
        return
        yield
"""


def installed(site: Path, name: str, version: str, entry_points: str) -> None:
    """A distribution's metadata, as pip leaves it: enough for entry points to be found."""
    dist = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_points}\n")


def test_guardian_plugins_lists_name_version_kind_and_package(tmp_path: Path) -> None:
    site = tmp_path / "site"
    installed(site, "guardian-broken", "0.3", "broken = no_such_module:P")
    installed(site, "guardian-loft", "2.0", "loft = guardian_loft:Loft")
    (site / "guardian_loft.py").write_text(LOFT_MODULE)
    result = run("-m", "guardian", "plugins", cwd=tmp_path, pythonpath=site)
    assert result.returncode == 1, result.stderr  # something is broken
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "KIND", "PACKAGE"]
    assert f"webhook        {guardian.__version__}      push   guardian" in lines
    assert "loft           2.0        pull   guardian-loft" in lines
    assert "broken         0.3        ?      guardian-broken" in lines
    assert any(line.split() == ["failed", "to", "load:", *NO_MODULE.split()] for line in lines)


# The tutorial (docs/plugins.md) and its example package.


def test_the_tutorial_shows_the_example_files_as_they_are() -> None:
    doc = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    shown = dict(re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", doc, re.DOTALL))
    files = {
        str(path.relative_to(EXAMPLE)): path.read_text(encoding="utf-8")
        for path in EXAMPLE.rglob("*")
        if path.is_file() and not any(p.startswith((".", "__pycache__")) for p in path.parts)
    }
    assert shown == files


def test_the_example_package_builds_installs_and_passes_its_own_tests(tmp_path: Path) -> None:
    source = tmp_path / "guardian-pigeonpost"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__"))
    site = tmp_path / "site"
    install = run(
        *("-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"),
        *("--target", str(site), str(source)),
        cwd=tmp_path,
    )
    assert "bdist_wheel" not in install.stderr, (
        "this venv's setuptools cannot build wheels: it needs setuptools>=70.1 (`make test` "
        "installs it with the dev extras)"
    )
    assert install.returncode == 0, install.stderr
    shutil.rmtree(source / "guardian_pigeonpost")  # from here on, only the installed package
    tests = run(
        *("-m", "pytest", "-q", "-p", "no:cacheprovider", str(source / "tests")),
        cwd=tmp_path,
        pythonpath=site,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert re.search(r"^15 passed", tests.stdout, re.MULTILINE), tests.stdout
    probe = textwrap.dedent(
        """
        import json
        from importlib.metadata import entry_points
        import guardian_pigeonpost
        found = [
            [e.name, e.value, e.dist.name, e.dist.version]
            for e in entry_points(group="guardian.plugins")
        ]
        print(json.dumps({"found": found, "module": guardian_pigeonpost.__file__}))
        """
    )
    seen = json.loads(run("-c", probe, cwd=tmp_path, pythonpath=site).stdout)
    assert seen["module"].startswith(str(site))
    pigeonpost = ["pigeonpost", "guardian_pigeonpost:PigeonpostPlugin", "guardian-pigeonpost"]
    assert [*pigeonpost, "1.0.0"] in seen["found"]
    listing = run("-m", "guardian", "plugins", cwd=tmp_path, pythonpath=site)
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert "pigeonpost     1.0.0      push   guardian-pigeonpost" in listing.stdout.splitlines()
    assert "pigeonloft     1.0.0      pull   guardian-pigeonpost" in listing.stdout.splitlines()


# The public API: named, and every name documented in one line.


@pytest.mark.parametrize("module", [guardian, guardian.testing], ids=lambda m: m.__name__)
def test_the_public_api_is_named_and_documented(module: Any) -> None:
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__doc__ and value.__doc__.strip(), f"{module.__name__}.{name}"
