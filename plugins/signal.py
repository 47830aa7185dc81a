"""Signal, through signal-cli with the member's account linked to it as a device.

Two ways to reach signal-cli (AsamK/signal-cli; bbernhard/signal-cli-rest-api):

- `api = "rest"`: signal-cli-rest-api. `GET /v1/about` says its `mode`. In `json-rpc` mode
  `/v1/receive/{number}` is a websocket with one `{"envelope", "account"}` per frame (or
  `{"error"}`), and messages that arrive while no client reads it are dropped, so Guardian
  reconnects at once. In `normal`/`native` mode the same path is a GET that runs signal-cli's
  `receive` for `timeout` seconds and answers a JSON array of those objects; it takes the
  messages off Signal's queue, so nothing else may call it (its `AUTO_RECEIVE_SCHEDULE` would
  take them first). `GET /v1/accounts` lists the numbers it has.
- `api = "jsonrpc"`: signal-cli's own daemon (`daemon --http HOST:PORT`): `GET /api/v1/events`
  is a Server-Sent Events stream of `receive` events whose data is `{"account", "envelope"}`
  (`http/HttpServerHandler.java`), with a keep-alive comment every 15 s; `?account=` picks
  the account of a multi-account daemon (400 when it has none such).

An envelope (`json/JsonMessageEnvelope.java`) with a `dataMessage` or an `editMessage` is a
message: the sender is `signal:<uuid>`, with the number when Signal shows it
(`signal:<uuid>/+31...`, which contacts also match as `sms:+31...`), a group message is in
the group's conversation with its name. Receipts, typing, calls' signalling, stories, sync
messages (what the member sent from another device), reactions, deletions, pins, poll votes
and group updates are not messages.

Signal keeps no position to resume from: signal-cli takes each message off Signal's queue as
it reads it. The cursor only records the newest envelope seen. A new source starts at now:
its first cursor is stored once signal-cli reads for it (the stream connected; in normal
mode, after a first receive has taken what Signal kept from before the source, not read).
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from guardian.contacts import canonical_phone, is_e164, signal_address
from guardian.plugin import IncomingMessage, PluginSettings, PullBatch, PullPlugin
from guardian.webhook_format import MAX_TEXT
from plugins import GETTEXT_DOMAIN, LOCALE_DIR
from plugins.network import (
    NETWORK_ERRORS,
    SourceError,
    require_session,
    server_sent_events,
    unreachable,
)

#: How long one receive call of signal-cli-rest-api's normal mode waits for messages.
POLL_SECONDS = 10
#: A JVM starts for every call in normal mode: give it time on top of the wait.
POLL_SLACK_SECONDS = 60
#: Connections in a row that close before bringing anything (or lasting HEALTHY_AFTER on
#: Guardian's clock), before the source is reported as failing.
GIVE_UP_AFTER = 3
HEALTHY_AFTER = timedelta(minutes=1)
NAME_LENGTH = 200
#: How long a new source's first receive (normal mode) takes what Signal kept from before it.
HISTORY_SECONDS = 1


class _Reading(tuple[Any, ...]):
    """The frame stream's marker (an empty batch of its own) that signal-cli reads for
    Guardian from now on."""


READING: Sequence[Any] = _Reading()
#: What a message without text carries, by attachment type.
MEDIA = (
    ("image/gif", "[GIF]"),
    ("image/", "[photo]"),
    ("video/", "[video]"),
    ("audio/", "[voice message]"),
)


class SignalSettings(PluginSettings):
    url: str = Field(description="signal-cli-rest-api's or signal-cli daemon's http(s) URL")
    number: str = Field(description="the member's Signal number, as linked: +31612345678")
    api: Literal["rest", "jsonrpc"] = Field(
        "rest", description="`rest` (signal-cli-rest-api) or `jsonrpc` (signal-cli daemon --http)"
    )

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("an http:// or https:// URL, e.g. http://127.0.0.1:8080")
        return url.rstrip("/")

    @field_validator("number")
    @classmethod
    def _e164(cls, number: str) -> str:
        shown = canonical_phone(number)
        if not is_e164(shown):
            raise ValueError("the number in international form, e.g. +31612345678")
        return shown


class _Signal(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class GroupInfo(_Signal):
    groupId: str
    groupName: str | None = None
    type: str | None = None


class Attachment(_Signal):
    contentType: str | None = None


class Mention(_Signal):
    name: str | None = None
    number: str | None = None
    uuid: str | None = None
    start: int = 0


class DataMessage(_Signal):
    timestamp: int
    message: str | None = None
    groupInfo: GroupInfo | None = None
    attachments: list[Attachment] | None = None
    mentions: list[Mention] | None = None
    sticker: dict[str, Any] | None = None
    contacts: list[Any] | None = None
    pollCreate: dict[str, Any] | None = None
    payment: dict[str, Any] | None = None
    viewOnce: bool | None = None
    #: Set on what is about a message, not one.
    reaction: dict[str, Any] | None = None
    remoteDelete: dict[str, Any] | None = None
    isExpirationUpdate: bool | None = None
    pollVote: dict[str, Any] | None = None
    pollTerminate: dict[str, Any] | None = None
    pinMessage: dict[str, Any] | None = None
    unpinMessage: dict[str, Any] | None = None
    adminDelete: dict[str, Any] | None = None

    def is_about_a_message(self) -> bool:
        return bool(
            self.reaction
            or self.remoteDelete
            or self.isExpirationUpdate
            or self.pollVote
            or self.pollTerminate
            or self.pinMessage
            or self.unpinMessage
            or self.adminDelete
        )

    def content(self) -> str | None:
        """What the person wrote (mentions as @name), a placeholder for bare media, or None."""
        if self.message:
            return _with_mentions(self.message, self.mentions or [])
        for attachment in self.attachments or []:
            kind = attachment.contentType or ""
            return next((label for prefix, label in MEDIA if kind.startswith(prefix)), "[file]")
        if self.sticker is not None:
            return "[sticker]"
        if self.contacts:
            return "[contact]"
        if self.pollCreate is not None:
            return "[poll]"
        if self.payment is not None:
            return "[payment]"
        return None


class EditMessage(_Signal):
    targetSentTimestamp: int
    dataMessage: DataMessage


class Envelope(_Signal):
    source: str | None = None
    sourceNumber: str | None = None
    sourceUuid: str | None = None
    sourceName: str | None = None
    timestamp: int = 0
    dataMessage: DataMessage | None = None
    editMessage: EditMessage | None = None


def envelope_message(envelope: Any, account: str) -> IncomingMessage | None:
    """The message in one signal-cli envelope received by `account`; None for the rest."""
    try:
        read = Envelope.model_validate(envelope)
    except ValidationError:
        return None
    edit = read.editMessage
    data = edit.dataMessage if edit is not None else read.dataMessage
    if data is None or data.is_about_a_message():
        return None
    group = data.groupInfo
    text = data.content()
    if text is None:
        return None  # a group update, an empty message
    number = read.sourceNumber or (read.source if read.source and is_e164(read.source) else None)
    if number is not None and canonical_phone(number) == account:
        return None  # the member's own (a note to self)
    sender = signal_address(read.sourceUuid, number)
    if not sender:
        return None
    person = (read.sourceUuid or number or "").lower()
    external = f"{person}:{data.timestamp}"
    if edit is not None:
        external = f"{person}:{edit.targetSentTimestamp}:edit:{data.timestamp}"
    return IncomingMessage(
        external_id=external,
        network="signal",
        sender_id=sender,
        sender_name=(read.sourceName or "")[:NAME_LENGTH] or None,
        text=text[:MAX_TEXT],
        sent_at=_instant(data.timestamp) or _instant(read.timestamp),
        conversation_id=group.groupId if group is not None else sender,
        conversation_title=((group.groupName or "")[:NAME_LENGTH] or None) if group else None,
        group=group is not None,
    )


class SignalPlugin(PullPlugin[SignalSettings]):
    settings_model = SignalSettings
    gettext_domain = GETTEXT_DOMAIN
    locale_dir = LOCALE_DIR

    async def pull(self, cursor: str | None) -> AsyncIterator[PullBatch]:
        newest = _newest(cursor)
        new_source = cursor is None
        # aclosing: when Guardian closes this generator, the stream under it closes too.
        async with aclosing(self._frames(new_source)) as stream:
            async for frames in stream:
                if frames is READING:
                    if new_source:  # what arrives from now on is new: store that
                        new_source = False
                        yield PullBatch([], json.dumps({"newest": newest}))
                    continue
                messages = []
                for frame in frames:
                    message = self._read(frame)
                    if message is not None:
                        messages.append(message)
                if messages:
                    sent = (int(m.external_id.rsplit(":", 1)[1]) for m in messages)
                    newest = max(newest, *sent)
                    yield PullBatch(messages, json.dumps({"newest": newest}))

    def _frames(self, new_source: bool) -> AsyncGenerator[Sequence[Any], None]:
        """The frames signal-cli sends, in batches; READING once it is reading for Guardian
        (connected, or for a new source in normal mode, past what was queued before it)."""
        if self.settings.api == "jsonrpc":
            return self._daemon_events()
        return self._rest(new_source)

    def _read(self, frame: Any) -> IncomingMessage | None:
        if not isinstance(frame, dict):
            return None
        if "error" in frame or "exception" in frame:
            problem = frame.get("error") or frame.get("exception")
            self.log.warning("signal-cli could not read a message: %s", str(problem)[:300])
        account = frame.get("account")
        if account is not None and canonical_phone(str(account)) != self.settings.number:
            return None
        envelope = frame.get("envelope")
        return envelope_message(envelope, self.settings.number) if envelope else None

    # signal-cli-rest-api

    async def _rest(self, new_source: bool) -> AsyncGenerator[Sequence[Any], None]:
        session = require_session(self.context.session)
        mode = await self._rest_mode(session)
        if mode == "json-rpc":
            async with aclosing(self._websocket(session)) as frames:
                async for frame in frames:
                    yield frame if frame is READING else [frame]
        else:
            if new_source:
                # Signal's server kept what came before the source for this receive: history.
                history = await self._receive(session, HISTORY_SECONDS)
                if history:
                    self.log.info("%d envelope(s) from before the source: not read", len(history))
            yield READING
            while True:
                yield await self._receive(session)

    async def _rest_mode(self, session: aiohttp.ClientSession) -> str:
        about = await self._get_json(session, "/v1/about")
        accounts = await self._get_json(session, "/v1/accounts")
        if not isinstance(accounts, list) or self.settings.number not in accounts:
            known = len(accounts) if isinstance(accounts, list) else 0
            raise SourceError(
                f"signal-cli-rest-api has no account {self.settings.number} (it has {known});"
                " link the member's Signal to it first (GET /v1/qrcodelink)"
            )
        return str(about.get("mode", "normal")) if isinstance(about, dict) else "normal"

    async def _receive(
        self, session: aiohttp.ClientSession, seconds: int = POLL_SECONDS
    ) -> Sequence[Any]:
        number = urllib.parse.quote(self.settings.number, safe="")
        url = f"{self.settings.url}/v1/receive/{number}?timeout={seconds}"
        timeout = aiohttp.ClientTimeout(total=seconds + POLL_SLACK_SECONDS)
        try:
            async with session.get(url, timeout=timeout) as response:
                body = await response.json(content_type=None)
                if response.status >= 400:
                    raise SourceError(f"signal-cli-rest-api refused to receive: {_said(body)}")
        except NETWORK_ERRORS as error:
            raise unreachable(f"cannot receive from {self._where()}", error) from None
        return body if isinstance(body, list) else []

    async def _websocket(self, session: aiohttp.ClientSession) -> AsyncGenerator[Any, None]:
        number = urllib.parse.quote(self.settings.number, safe="")
        url = _ws_url(f"{self.settings.url}/v1/receive/{number}")
        empty = 0
        while True:
            received, opened = False, self.context.clock.now()
            try:
                async with session.ws_connect(url, heartbeat=30) as ws:
                    self.log.info("receiving from signal-cli-rest-api (json-rpc mode)")
                    yield READING
                    async for frame in ws:
                        if frame.type is aiohttp.WSMsgType.TEXT:
                            received = True
                            yield _json(frame.data)
                        elif frame.type is aiohttp.WSMsgType.ERROR:
                            break
            except NETWORK_ERRORS as error:
                raise unreachable(f"cannot receive from {self._where()}", error) from None
            # Nobody reads while it is closed, and json-rpc mode drops what nobody reads.
            empty = 0 if received or self._lasted(opened) else empty + 1
            if empty >= GIVE_UP_AFTER:
                raise SourceError(f"{self._where()} keeps closing the receive websocket")
            self.log.info("the receive websocket closed; reconnecting")

    # signal-cli's JSON-RPC daemon

    async def _daemon_events(self) -> AsyncGenerator[Sequence[Any], None]:
        session = require_session(self.context.session)
        query = urllib.parse.urlencode({"account": self.settings.number})
        url = f"{self.settings.url}/api/v1/events?{query}"
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=90)
        empty = 0
        while True:
            received, opened = False, self.context.clock.now()
            try:
                async with session.get(url, timeout=timeout) as response:
                    if response.status == 400:
                        raise SourceError(
                            f"signal-cli has no account {self.settings.number}: link it with"
                            " `signal-cli link`, or start the daemon with `-a` and that number"
                        )
                    response.raise_for_status()
                    self.log.info("receiving from the signal-cli daemon")
                    yield READING
                    async for event in server_sent_events(response):
                        if event.event == "receive":
                            received = True
                            yield [_json(event.data)]
            except NETWORK_ERRORS as error:
                raise unreachable(f"cannot receive from {self._where()}", error) from None
            empty = 0 if received or self._lasted(opened) else empty + 1
            if empty >= GIVE_UP_AFTER:
                raise SourceError(f"{self._where()} keeps closing the event stream")
            self.log.info("the event stream closed; reconnecting")

    async def _get_json(self, session: aiohttp.ClientSession, path: str) -> Any:
        try:
            async with session.get(
                f"{self.settings.url}{path}", timeout=aiohttp.ClientTimeout(total=60)
            ) as response:
                body = await response.json(content_type=None)
                if response.status >= 400:
                    raise SourceError(f"signal-cli-rest-api answered {path}: {_said(body)}")
                return body
        except NETWORK_ERRORS as error:
            raise unreachable(f"cannot reach {self._where()}", error) from None

    def _lasted(self, opened: datetime) -> bool:
        return self.context.clock.now() - opened >= HEALTHY_AFTER

    def _where(self) -> str:
        parsed = urllib.parse.urlsplit(self.settings.url)
        return f"signal-cli at {parsed.scheme}://{parsed.hostname}:{parsed.port or ''}".rstrip(":")


def _with_mentions(text: str, mentions: Sequence[Mention]) -> str:
    # signal-cli leaves U+FFFC where a mention is; put the name back.
    for mention in sorted(mentions, key=lambda m: m.start, reverse=True):
        at = mention.start
        if 0 <= at < len(text) and text[at] == "\ufffc":
            name = mention.name or mention.number or "someone"
            text = f"{text[:at]}@{name}{text[at + 1 :]}"
    return text


def _instant(millis: int) -> datetime | None:
    if not 0 < millis < 10**14:
        return None
    return datetime.fromtimestamp(millis / 1000, UTC)


def _newest(cursor: str | None) -> int:
    try:
        value = json.loads(cursor)["newest"] if cursor else 0
    except (ValueError, KeyError, TypeError):
        return 0
    return value if isinstance(value, int) else 0


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        logging.getLogger(__name__).warning("signal-cli sent a frame that is not JSON")
        return None


def _said(body: Any) -> str:
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])[:300]
    return "an error"


def _ws_url(url: str) -> str:
    return "ws" + url.removeprefix("http")
