"""Shared parts for the built-in plugins' tests: golden payloads, plugin instances, hook requests.

Golden payloads live next to the tests, one folder per network, written from each network's
documented format.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from guardian.models import Notification
from guardian.plugin import HookRequest, PushPlugin
from guardian.settings import Settings
from guardian.testing import SignedRequest, plugin_instance
from tests.conftest import Running, at

GOLDEN = Path(__file__).parent
#: A Wednesday night: inside Mia's quiet hours (mon-thu,sun 21:30–07:00), so messages are held.
QUIET = at("2026-11-25T23:00:00+01:00")
HOOK_URL = "http://127.0.0.1/hooks/test-source"

P = TypeVar("P", bound=PushPlugin[Any])
Start = Callable[[Settings, datetime], Awaitable[Running]]


def golden(network: str, name: str) -> bytes:
    """A golden payload's exact bytes: signatures are over the raw body."""
    return (GOLDEN / network / name).read_bytes()


def golden_json(network: str, name: str) -> Any:
    return json.loads(golden(network, name))


def plugin(cls: type[P], **settings: Any) -> P:
    """A plugin instance with these settings, as the core builds one for a source."""
    return plugin_instance(cls, settings, source_id="test-source")


def with_headers(request: SignedRequest, changes: Mapping[str, str | None]) -> SignedRequest:
    """The same request with headers set to new values, or removed where the value is None."""
    headers = {name: value for name, value in request.headers.items() if name not in changes}
    headers.update({name: value for name, value in changes.items() if value is not None})
    return replace(request, headers=headers)


def hook_request(
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    method: str = "POST",
    url: str = HOOK_URL,
    received_at: datetime = QUIET,
) -> HookRequest:
    """What the core hands a push plugin for one HTTP request."""
    return HookRequest(
        method=method,
        url=url,
        headers=CIMultiDictProxy(CIMultiDict(headers or {})),
        query=URL(url).query,
        body=body,
        received_at=received_at,
    )


async def start_with_source(
    write_settings: Callable[..., Settings], start_guardian: Start, source: str
) -> Running:
    """A real Guardian on a virtual clock at QUIET, with one more `[[sources]]` table for Mia."""
    extra = "\n[[sources]]\n" + textwrap.dedent(source).strip() + '\nmember = "mia"\n'
    return await start_guardian(write_settings(extra=extra), QUIET)


async def only_notification() -> Notification:
    stored = await Notification.all().prefetch_related("contact", "member")
    assert len(stored) == 1, stored
    return stored[0]
