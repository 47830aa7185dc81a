"""A source's form speaks the page's language: each plugin's settings are labelled and explained
from the plugin's own catalog (the built-in plugins' is `plugins/locale/`), in English where the
plugin has none.

The words come from the catalogs, so these tests hold whatever a translator writes there; each
also checks that the English is gone where a translation was expected.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from markupsafe import escape
from pydantic import Field, SecretStr

import plugins
from guardian import catalogs, i18n
from guardian.dashboard.source_edit import form_fields
from guardian.plugin import (
    HookRequest,
    PluginRegistry,
    PluginSettings,
    PushPlugin,
    Received,
)
from tests.admin import admin_client
from tests.conftest import Running, at

EVENING = at("2026-11-24T22:00:00+01:00")


def _labels(html: str) -> dict[str, str]:
    """Each setting's label as the form shows it, by its field's id (`s-host`)."""
    return dict(
        re.findall(r'<label for="(s-[\w-]+)">(.*?)(?: <span class="muted">|</label>)', html)
    )


def _helps(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="muted help" id="(s-[\w-]+)-help">(.*?)</p>', html, re.S))


async def _page(running: Running, language: str, path: str) -> str:
    """The page as the household's guardian reads it, the household speaking `language`."""
    admin = await admin_client(running)
    assert (await admin.patch("/household", {"language": language})).status == 200
    await admin.login()
    return await _get(running, path)


async def _get(running: Running, path: str) -> str:
    response = await running.client.get(path)
    assert response.status == 200
    return await response.text()


def _builtin(code: str) -> Any:
    return i18n.plugin_catalog(code, plugins.GETTEXT_DOMAIN, plugins.LOCALE_DIR)


async def test_a_builtin_plugins_settings_read_in_dutch(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), EVENING)
    html = await _page(running, "nl", "/sources/new?plugin=imap")
    dutch = _builtin("nl")
    labels, helps = _labels(html), _helps(html)
    for field, english in [("host", "Host"), ("security", "Security"), ("password", "Password")]:
        assert labels[f"s-{field}"] == escape(dutch.gettext(english)) != english
    host = "the IMAP server, e.g. imap.example.org"
    assert helps["s-host"] == escape(dutch.gettext(host)) != host
    # Guardian's own words after a secret's help are Dutch too.
    assert helps["s-password"].strip() == i18n.language("nl").gettext(
        "Kept by Guardian and never shown again."
    )
    assert "imap.example.org" in helps["s-host"]  # a technical name stays as it is


async def test_an_existing_sources_settings_read_in_german(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), EVENING)
    html = await _page(running, "de", "/sources/mia-phone/edit")  # a webhook source
    german = _builtin("de")
    help_ = "Standard Webhooks secret, whsec_..."
    assert _helps(html)["s-secret"].startswith(str(escape(german.gettext(help_))))
    assert help_ not in html
    token = "bearer token, when a sender cannot sign"
    assert german.gettext(token) != token and str(escape(german.gettext(token))) in html
    assert _labels(html)["s-token"] == escape(german.gettext("Token"))


async def test_in_english_the_form_reads_as_it_always_has(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), EVENING)
    html = await _page(running, "en", "/sources/new?plugin=twilio")
    assert _labels(html) == {"s-auth_token": "Auth token", "s-public_url": "Public url"}
    assert _helps(html)["s-auth_token"].startswith("the account&#39;s Auth Token Kept by")
    # Every built-in setting: its label from its name, its help its description, as before.
    for plugin in catalogs.builtin_plugins():
        model = plugin.settings_model
        shown = [(f.name, f.label, f.help) for f in form_fields(model)]
        assert shown == [
            (name, name.replace("_", " ").capitalize(), setting.description or "")
            for name, setting in model.model_fields.items()
        ]


# A plugin from elsewhere, with a catalog of its own.

DOMAIN = "guardian-pigeonpost"


class PigeonSettings(PluginSettings):
    signing_key: SecretStr = Field(
        title="Loft key", description="the key from the loft's settings page"
    )
    loft: str = Field(description="the loft's name, as painted on its door")
    wait_seconds: int = 30


def pigeon_plugin(locale_dir: Path | None) -> type[PushPlugin[PigeonSettings]]:
    """The plugin, its catalogs in `locale_dir` (None: it ships none)."""

    class PigeonPlugin(PushPlugin[PigeonSettings]):
        """Pigeon post."""

        settings_model = PigeonSettings
        gettext_domain = DOMAIN if locale_dir else None

        async def receive(self, request: HookRequest) -> Received:
            return Received()

    PigeonPlugin.locale_dir = locale_dir
    return PigeonPlugin


GERMAN = {
    "Loft key": "Schlüssel des Schlags",
    "the key from the loft's settings page": "Der Schlüssel aus den Einstellungen des Schlags.",
    "Loft": "Schlag",
    "the loft's name, as painted on its door": "Der Name des Schlags, wie er an der Tür steht",
    "Wait seconds": "Wartezeit in Sekunden",
}


def ship_catalogs(locale_dir: Path) -> type[PushPlugin[PigeonSettings]]:
    """The plugin's catalogs as its author makes them: written by `python -m guardian.catalogs
    plugin pigeon`, then translated into German only."""
    plugin = pigeon_plugin(locale_dir)
    assert catalogs.main(["plugin", "pigeon"], PluginRegistry.of({"pigeon": plugin})) == 0
    german = locale_dir / "de" / "LC_MESSAGES" / f"{DOMAIN}.po"
    catalog = catalogs.read(german, DOMAIN)
    for message in catalog:
        if message.id:
            message.string = GERMAN[str(message.id)]
    catalogs.write(catalog, german)
    return plugin


async def _start(write_settings: Any, start_guardian: Any, plugin: type[Any]) -> Running:
    registry = PluginRegistry.discover()
    registry.plugins.update(PluginRegistry.of({"pigeon": plugin}).plugins)
    running: Running = await start_guardian(write_settings(), EVENING, registry=registry)
    return running


async def test_a_third_party_plugin_ships_its_own_translations(
    write_settings: Any, start_guardian: Any, tmp_path: Path
) -> None:
    plugin = ship_catalogs(tmp_path / "locale")
    template = catalogs.read(tmp_path / "locale" / f"{DOMAIN}.pot", DOMAIN)
    assert {str(m.id) for m in template if m.id} == set(GERMAN)  # the title, and a name's words
    running = await _start(write_settings, start_guardian, plugin)
    html = await _page(running, "de", "/sources/new?plugin=pigeon")
    assert _labels(html) == {
        "s-signing_key": "Schlüssel des Schlags",
        "s-loft": "Schlag",
        "s-wait_seconds": "Wartezeit in Sekunden",
    }
    assert _helps(html)["s-signing_key"].startswith("Der Schlüssel aus den Einstellungen")
    assert _helps(html)["s-loft"] == "Der Name des Schlags, wie er an der Tür steht"


async def test_a_plugins_language_it_has_no_translation_for_reads_in_english(
    write_settings: Any, start_guardian: Any, tmp_path: Path
) -> None:
    plugin = ship_catalogs(tmp_path / "locale")  # Dutch was written, but left empty
    running = await _start(write_settings, start_guardian, plugin)
    html = await _page(running, "nl", "/sources/new?plugin=pigeon")
    assert _labels(html) == {
        "s-signing_key": "Loft key",
        "s-loft": "Loft",
        "s-wait_seconds": "Wait seconds",
    }
    assert _helps(html)["s-loft"] == "the loft&#39;s name, as painted on its door"
    assert "optioneel" in html  # Guardian's own words are Dutch all the same


async def test_a_plugin_without_catalogs_reads_in_english(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await _start(write_settings, start_guardian, pigeon_plugin(None))
    html = await _page(running, "de", "/sources/new?plugin=pigeon")
    assert _labels(html)["s-signing_key"] == "Loft key"  # its title
    assert _labels(html)["s-wait_seconds"] == "Wait seconds"  # its name in words
    assert _helps(html)["s-loft"] == "the loft&#39;s name, as painted on its door"


async def test_a_compiled_catalog_is_read_and_a_broken_one_is_english(
    write_settings: Any, start_guardian: Any, tmp_path: Path
) -> None:
    """A plugin may ship `.mo` files instead (Babel's `compile_catalog`); one that cannot be read
    leaves its settings in English, and the page works."""
    folder = tmp_path / "locale"
    plugin = ship_catalogs(folder)
    german = folder / "de" / "LC_MESSAGES"
    with (german / f"{DOMAIN}.mo").open("wb") as compiled:
        write_mo(compiled, catalogs.read(german / f"{DOMAIN}.po", DOMAIN))
    (german / f"{DOMAIN}.po").unlink()
    (folder / "fr" / "LC_MESSAGES" / f"{DOMAIN}.po").unlink()
    (folder / "fr" / "LC_MESSAGES" / f"{DOMAIN}.mo").write_bytes(b"not a catalog")
    running = await _start(write_settings, start_guardian, plugin)
    admin = await admin_client(running)
    await admin.login()
    for language, loft in [("de", "Schlag"), ("fr", "Loft")]:
        assert (await admin.patch("/household", {"language": language})).status == 200
        html = await _get(running, "/sources/new?plugin=pigeon")
        assert f'<html lang="{language}">' in html
        assert _labels(html)["s-loft"] == loft
