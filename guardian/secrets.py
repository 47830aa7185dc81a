"""Which strings are secrets: for the log redactor, from settings or from the stored household."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

from guardian.plugin import PluginRegistry


def secrets_in(
    channels: Iterable[str],
    sources: Iterable[tuple[str, Mapping[str, Any]]],
    registry: PluginRegistry,
) -> list[str]:
    """Channel URLs (whole, their passwords, and token-like pieces) and the sources' secret
    settings (a `whsec_` key also bare); `sources` are (plugin name, plain settings) pairs."""
    found: list[str] = []
    for channel in channels:
        found.extend(url_secrets(channel))
    models = registry.settings_models()
    for plugin, settings in sources:
        model = models.get(plugin)
        if model is None:
            continue
        with contextlib.suppress(ValueError):
            own = model.model_validate(dict(settings))
            for _, value in own:
                if isinstance(value, SecretStr):
                    secret = value.get_secret_value()
                    found.extend([secret, secret.removeprefix("whsec_")])
    return found


def url_secrets(value: str) -> list[str]:
    found = [value]
    parts = urlsplit(value)
    with contextlib.suppress(ValueError):
        if parts.password:
            found.extend([parts.password, unquote(parts.password)])
    # Tokens and keys that services put in the host or path (`tgram://BOT_TOKEN/CHAT`):
    # long pieces of letters and digits, unlike host names and ids.
    rest = value.split("://", 1)[-1]
    found.extend(
        piece
        for piece in re.split(r"[/:@?&=#]", rest)
        if len(piece) >= 16
        and "." not in piece
        and re.search(r"[A-Za-z]", piece)
        and re.search(r"\d", piece)
    )
    return found
