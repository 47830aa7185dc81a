"""What the pull plugins share: a clear error for a source, and a Server-Sent Events reader.

A pull plugin raises `SourceError` (guardian.plugin's, re-exported here) for what the person
running Guardian must fix or know (refused credentials, an unknown account, an unreachable
server); Guardian shows its message as the source's error, so it says what happened in plain
words and never holds a secret.
aiohttp's own exceptions name the URL they failed on, and some networks put the token in the
URL (Telegram's `/bot<token>/`): `unreachable` describes a failure without it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

from guardian.plugin import SourceError

__all__ = [
    "NETWORK_ERRORS",
    "ServerSentEvent",
    "SourceError",
    "require_session",
    "server_sent_events",
    "unreachable",
]

#: What a network call may raise when the far side is down, slow or talking nonsense.
NETWORK_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError, ValueError)


def unreachable(what: str, error: BaseException) -> SourceError:
    """`what` failed with `error`, said without the URL or headers the error may carry."""
    reason = type(error).__name__
    if isinstance(error, aiohttp.ClientResponseError):
        reason = f"HTTP {error.status} {error.message}".strip()
    elif isinstance(error, aiohttp.ClientConnectorError):
        reason = f"cannot connect ({error.os_error.strerror or type(error.os_error).__name__})"
    elif isinstance(error, asyncio.TimeoutError):
        reason = "no answer in time"
    elif isinstance(error, aiohttp.WSServerHandshakeError):
        reason = f"websocket refused (HTTP {error.status})"
    return SourceError(f"{what}: {reason}")


def require_session(session: aiohttp.ClientSession | None) -> aiohttp.ClientSession:
    """The shared session; a pull plugin cannot run without one."""
    if session is None:
        raise SourceError("no HTTP session was given to the plugin")
    return session


@dataclass(frozen=True)
class ServerSentEvent:
    """One event of a `text/event-stream` (html.spec.whatwg.org, "server-sent events")."""

    event: str
    data: str
    id: str | None = None


async def server_sent_events(response: aiohttp.ClientResponse) -> AsyncIterator[ServerSentEvent]:
    """The events of a streamed response, as they arrive; comments (keep-alives) are skipped.

    A field line is `name:value` (one optional space after the colon) or a bare `name`; an
    empty line ends the event; `data` lines are joined with newlines; the type is `message`
    unless an `event` line says otherwise.
    """
    event, data, ident = "", list[str](), None
    async for raw in response.content:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield ServerSentEvent(event or "message", "\n".join(data), ident)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            ident = value
