"""Home Assistant: the Companion app's `last_notification` sensor on the member's Android phone.

The sensor (home-assistant/android, `sensors/NotificationListenerSensorManager.kt`) takes every
notification of the apps on its allow list: its state is the text, its attributes every extra
of the notification (`android.title`, `android.text`, `android.bigText`,
`android.conversationTitle`, `android.isGroupConversation`, `android.messages`...) plus
`package`, `post_time` (ms), `is_ongoing`, `is_clearable`, `group_id`, `category`,
`channel_id`. The app sends attributes of other types as text (`common/sensors/
SensorManager.kt`): a missing value is the string "null", and `android.messages`, a
messaging-style notification's recent messages, is a list of strings like
`{sender_person=android.app.Person@1f2e3d, sender=Sophie, text=are you awake?,
time=1795643940000}`, one per message with its own sender and time; a message without a
sender is the member's own.

Guardian reads it over Home Assistant's websocket API (developers.home-assistant.io,
"WebSocket API"; home-assistant/core `websocket_api/auth.py`, `commands.py`): `auth_required`
→ `{"type": "auth", "access_token"}` → `auth_ok` or `auth_invalid`; then one
`subscribe_trigger` (admin only) with a state trigger on the configured `entities`, whose
events carry `variables.trigger.to_state`; `ping`/`pong` every 30 s. After (re)connecting it
reads each sensor's current state (`GET /api/states/<entity>`), which catches the last
notification that came while it was away, and nothing before it: Home Assistant keeps no
history of a sensor's attributes to resume from. The cursor holds when the source started
(older notifications are history, not imported) and each sensor's newest `post_time` seen. A
new source takes what the sensors show at its first connection as history too, whatever its
`post_time` says: the phone's clock is not Guardian's, and a phone a little ahead would
otherwise have the notification shown before the source was added imported.

The sensor repeats itself (a reconnect, an app re-posting its notification with the chat's
recent messages): the external id is derived from the package, the post (or message) time
and the text, so a repeat is a duplicate. Ongoing notifications (media players, downloads,
calls in progress), the apps' own summaries and apps that are not messaging apps are not
messages.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import urllib.parse
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from pydantic import Field, SecretStr, field_validator

from guardian.plugin import (
    IncomingMessage,
    PluginContext,
    PluginSettings,
    PullBatch,
    PullPlugin,
)
from guardian.webhook_format import MAX_TEXT
from plugins import GETTEXT_DOMAIN, LOCALE_DIR
from plugins.android_apps import (
    NAME_LENGTH,
    App,
    app_for,
    checked_apps,
    is_app_talking,
    sender_id,
    shown_name,
)
from plugins.network import NETWORK_ERRORS, SourceError, require_session, unreachable

PING_SECONDS = 30
#: How long the handshake (auth, subscribe) may take before the connection is given up.
HANDSHAKE_SECONDS = 30
#: Connections in a row that close before proving alive (an event, a pong, or lasting
#: HEALTHY_AFTER on Guardian's clock), before the source is reported as failing (Guardian
#: then retries with backoff).
GIVE_UP_AFTER = 3
HEALTHY_AFTER = timedelta(minutes=1)
#: Ids of messages yielded lately, so that the sensor's repeats are not even handed on.
RECENT_IDS = 2000
#: Android's notification categories (`Notification.CATEGORY_*`) that are never a message.
NOT_MESSAGES = frozenset(
    {
        "alarm",
        "call",
        "navigation",
        "progress",
        "promo",
        "recommendation",
        "reminder",
        "service",
        "status",
        "stopwatch",
        "sys",
        "transport",
        "workout",
        "location_sharing",
    }
)
ENTITY = re.compile(r"sensor\.[a-z0-9_]+")
#: The keys of a MessagingStyle message's Bundle (`Notification.MessagingStyle.Message`),
#: to split the app's text form of one back into its fields.
_MESSAGE_KEY = re.compile(
    r"(?:^|, )(extras|sender_person|sender|uri|remote_input_history|text|time|type)="
)


class HomeAssistantSettings(PluginSettings):
    url: str = Field(description="Home Assistant's URL, e.g. http://homeassistant.local:8123")
    access_token: SecretStr = Field(
        description="a long-lived access token of an administrator (Profile → Security)"
    )
    entities: list[str] = Field(
        min_length=1, description="the sensor.*_last_notification entity ids to read"
    )
    apps: dict[str, str] = Field(
        default_factory=dict, description="more messaging apps: package name → network"
    )

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("an http:// or https:// URL, e.g. http://homeassistant.local:8123")
        return url.rstrip("/")

    @field_validator("entities")
    @classmethod
    def _sensors(cls, entities: list[str]) -> list[str]:
        for entity in entities:
            if not ENTITY.fullmatch(entity):
                raise ValueError(f"{entity!r} is not a sensor entity id (sensor.pixel_8_...)")
        return entities

    @field_validator("apps")
    @classmethod
    def _networks(cls, apps: dict[str, str]) -> dict[str, str]:
        return checked_apps(apps)


@dataclass
class Watermark:
    """The cursor: when the source started (ms), and each sensor's last post time read."""

    since: int
    seen: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, cursor: str | None, now: datetime) -> Watermark:
        try:
            stored: Any = json.loads(cursor) if cursor else {}
            since, seen = int(stored["since"]), stored.get("seen", {})
            return cls(since, {str(k): int(v) for k, v in seen.items()})
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls(since=int(now.timestamp() * 1000))

    def dump(self) -> str:
        return json.dumps({"since": self.since, "seen": self.seen}, sort_keys=True)


@dataclass(frozen=True)
class CaughtUp:
    """The stream's marker that the sensors' current states were read: changes follow."""


@dataclass
class _Liveness:
    alive: bool = False
    ping_id: int | None = None


def notification_messages(
    attributes: Mapping[str, Any], apps: Mapping[str, str], since: int = 0
) -> list[IncomingMessage]:
    """The messages in one `last_notification` state's attributes, none before `since` (ms)."""
    package = _text(attributes.get("package")) or ""
    app = app_for(package, apps)
    if app is None or _flag(attributes.get("is_ongoing")):
        return []
    if (_text(attributes.get("category")) or "") in NOT_MESSAGES:
        return []
    post_time = _int(attributes.get("post_time"))
    entries = _message_entries(attributes.get("android.messages"))
    if entries:
        return _messaging_style(package, app, attributes, entries, since)
    title = _text(attributes.get("android.title")) or ""
    text = _text(attributes.get("android.bigText")) or _text(attributes.get("android.text"))
    if not text or not title or is_app_talking(app, title, text) or post_time < since:
        return []
    name = shown_name(title)
    sender = sender_id(app.network, name)
    return [
        _message(
            (package, str(post_time), text), app, sender, name, text, post_time, conversation=None
        )
    ]


def _messaging_style(
    package: str,
    app: App,
    attributes: Mapping[str, Any],
    entries: Sequence[Mapping[str, str]],
    since: int,
) -> list[IncomingMessage]:
    title = _text(attributes.get("android.conversationTitle"))
    group = _flag(attributes.get("android.isGroupConversation")) or bool(title)
    messages = []
    for entry in entries:
        name, text, time = entry.get("sender"), entry.get("text"), _int(entry.get("time"))
        if not name or name == "null" or not text or time < since:
            continue  # the member's own message (no sender), or older than the source
        name = shown_name(name)
        sender = sender_id(app.network, name)
        conversation = (f"{package}:{title}", title) if group and title else None
        identity = (package, str(time), name, text)
        messages.append(_message(identity, app, sender, name, text, time, conversation))
    return messages


def _message(
    identity: Sequence[str],
    app: App,
    sender: str,
    name: str,
    text: str,
    millis: int,
    conversation: tuple[str, str] | None,
) -> IncomingMessage:
    digest = hashlib.sha256(json.dumps(list(identity)).encode("utf-8", "surrogateescape"))
    return IncomingMessage(
        external_id=f"ha-{digest.hexdigest()[:40]}",
        network=app.network,
        sender_id=sender,
        sender_name=name[:NAME_LENGTH] or None,
        text=text[:MAX_TEXT],
        sent_at=datetime.fromtimestamp(millis / 1000, UTC) if millis > 0 else None,
        conversation_id=conversation[0] if conversation else sender,
        conversation_title=conversation[1][:NAME_LENGTH] if conversation else None,
        group=conversation is not None,
    )


class HomeAssistantPlugin(PullPlugin[HomeAssistantSettings]):
    settings_model = HomeAssistantSettings
    gettext_domain = GETTEXT_DOMAIN
    locale_dir = LOCALE_DIR

    def __init__(self, context: PluginContext[HomeAssistantSettings]) -> None:
        super().__init__(context)
        self._recent: OrderedDict[str, None] = OrderedDict()

    async def pull(self, cursor: str | None) -> AsyncIterator[PullBatch]:
        session = require_session(self.context.session)
        watermark = Watermark.load(cursor, self.context.clock.now())
        new_source = cursor is None
        quiet = 0
        while True:
            liveness, opened = _Liveness(), self.context.clock.now()
            async with aclosing(self._connection(session, liveness)) as states:
                async for item in states:
                    if isinstance(item, CaughtUp):
                        if new_source:  # store when it started: what came before is history
                            new_source = False
                            yield PullBatch([], watermark.dump())
                        continue
                    entity, state = item
                    messages = self._read(entity, state, watermark)
                    if messages and not new_source:
                        yield PullBatch(messages, watermark.dump())
            lasted = self.context.clock.now() - opened >= HEALTHY_AFTER
            quiet = 0 if liveness.alive or lasted else quiet + 1
            if quiet >= GIVE_UP_AFTER:
                raise SourceError(f"{self._where()} keeps closing the websocket")
            self.log.info("the websocket to Home Assistant closed; reconnecting")

    def _read(
        self, entity: str, state: Mapping[str, Any], watermark: Watermark
    ) -> list[IncomingMessage]:
        attributes = state.get("attributes")
        if not isinstance(attributes, Mapping):
            return []
        post_time = _int(attributes.get("post_time"))
        if post_time and post_time == watermark.seen.get(entity):
            return []  # the notification read last, again (a reconnect, a repeat)
        if post_time:
            watermark.seen[entity] = post_time
        messages = []
        for message in notification_messages(attributes, self.settings.apps, watermark.since):
            if message.external_id not in self._recent:
                messages.append(message)
            self._recent[message.external_id] = None
            self._recent.move_to_end(message.external_id)
        while len(self._recent) > RECENT_IDS:
            self._recent.popitem(last=False)
        return messages

    async def _connection(
        self, session: aiohttp.ClientSession, liveness: _Liveness
    ) -> AsyncGenerator[CaughtUp | tuple[str, Mapping[str, Any]], None]:
        """One websocket session: the sensors' current states, CaughtUp, then each
        change; ends when Home Assistant closes the connection."""
        url = _ws_url(f"{self.settings.url}/api/websocket")
        try:
            ws = await session.ws_connect(url, autoping=True)
        except NETWORK_ERRORS as error:
            raise unreachable(f"cannot reach {self._where()}", error) from None
        keep_alive: asyncio.Task[None] | None = None
        try:
            await self._handshake(ws)
            for entity in self.settings.entities:
                state = await self._current_state(session, entity)
                if state is not None:
                    yield entity, state
            yield CaughtUp()
            keep_alive = asyncio.create_task(self._keep_alive(ws, liveness))
            async for frame in ws:
                if frame.type is not aiohttp.WSMsgType.TEXT:
                    continue
                for message in _frames(frame.data):
                    if message.get("type") == "pong" and message.get("id") == liveness.ping_id:
                        liveness.alive, liveness.ping_id = True, None
                    elif message.get("type") == "event" and message.get("id") == 1:
                        liveness.alive = True
                        changed = _changed_state(message)
                        if changed is not None:
                            yield changed
        except NETWORK_ERRORS as error:
            raise unreachable(f"lost {self._where()}", error) from None
        finally:
            if keep_alive is not None:
                keep_alive.cancel()
                with suppress(asyncio.CancelledError):
                    await keep_alive
            await ws.close()

    async def _handshake(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async with asyncio.timeout(HANDSHAKE_SECONDS):
            hello = await self._receive(ws)
            if hello.get("type") != "auth_required":
                raise SourceError(f"{self._where()} did not ask to authenticate")
            token = self.settings.access_token.get_secret_value()
            await ws.send_json({"type": "auth", "access_token": token})
            answer = await self._receive(ws)
            if answer.get("type") == "auth_invalid":
                said = str(answer.get("message") or "no reason given")[:200]
                raise SourceError(f"Home Assistant refused the access token: {said}")
            if answer.get("type") != "auth_ok":
                raise SourceError(f"{self._where()} answered the login with {answer.get('type')}")
            trigger = {"platform": "state", "entity_id": list(self.settings.entities)}
            await ws.send_json({"id": 1, "type": "subscribe_trigger", "trigger": trigger})
            while True:
                result = await self._receive(ws)
                if result.get("id") == 1 and result.get("type") == "result":
                    break
        if not result.get("success"):
            error = result.get("error") or {}
            code, said = error.get("code", "error"), str(error.get("message", ""))[:200]
            hint = " (the token must be an administrator's)" if code == "unauthorized" else ""
            raise SourceError(f"Home Assistant refused subscribe_trigger: {said} [{code}]{hint}")

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> Mapping[str, Any]:
        """The next message of the handshake; a SourceError if the connection closes."""
        frame = await ws.receive()
        messages = _frames(frame.data) if frame.type is aiohttp.WSMsgType.TEXT else None
        if not messages:
            raise SourceError(f"{self._where()} closed the connection while logging in")
        return messages[0]

    async def _current_state(
        self, session: aiohttp.ClientSession, entity: str
    ) -> Mapping[str, Any] | None:
        token = self.settings.access_token.get_secret_value()
        try:
            async with session.get(
                f"{self.settings.url}/api/states/{entity}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=aiohttp.ClientTimeout(total=30),
            ) as response:
                if response.status == 404:
                    raise SourceError(
                        f"Home Assistant has no {entity}: enable the Companion app's"
                        " Last notification sensor, and check the entity id"
                    )
                if response.status == 401:
                    raise SourceError("Home Assistant refused the access token (HTTP 401)")
                response.raise_for_status()
                state = await response.json()
        except NETWORK_ERRORS as error:
            raise unreachable(f"cannot read {entity} from {self._where()}", error) from None
        return state if isinstance(state, Mapping) else None

    async def _keep_alive(self, ws: aiohttp.ClientWebSocketResponse, liveness: _Liveness) -> None:
        """Ping every PING_SECONDS; close the connection when a ping went unanswered."""
        next_id = 1
        while not ws.closed:
            await self.context.clock.sleep(PING_SECONDS)
            if liveness.ping_id is not None:
                self.log.warning("no pong from Home Assistant in %s s; reconnecting", PING_SECONDS)
                await ws.close()
                return
            next_id += 1
            liveness.ping_id = next_id
            try:
                await ws.send_json({"id": next_id, "type": "ping"})
            except (ConnectionError, RuntimeError, aiohttp.ClientError):
                await ws.close()
                return

    def _where(self) -> str:
        parsed = urllib.parse.urlsplit(self.settings.url)
        return f"Home Assistant at {parsed.scheme}://{parsed.netloc}"


def _frames(data: str) -> list[dict[str, Any]]:
    """A websocket text frame as messages (one object, or a coalesced array of them)."""
    try:
        document = json.loads(data)
    except ValueError:
        return []
    items = document if isinstance(document, list) else [document]
    return [item for item in items if isinstance(item, dict)]


def _changed_state(message: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    trigger = ((message.get("event") or {}).get("variables") or {}).get("trigger") or {}
    state, entity = trigger.get("to_state"), trigger.get("entity_id")
    if isinstance(state, Mapping) and isinstance(entity, str):
        return entity, state
    return None


def _message_entries(value: Any) -> list[dict[str, str]]:
    """`android.messages` as one dict per message, from a list of dicts or of the app's text."""
    if not isinstance(value, list):
        return []
    entries = []
    for item in value:
        if isinstance(item, Mapping):
            entries.append({str(k): str(v) for k, v in item.items() if v is not None})
        elif isinstance(item, str) and item.startswith("{") and item.endswith("}"):
            entries.append(_bundle_text(item[1:-1]))
    return entries


def _bundle_text(inner: str) -> dict[str, str]:
    """`sender=Sophie, text=hi, time=1` (a Kotlin map's text) as a dict of its known keys."""
    found = list(_MESSAGE_KEY.finditer(inner))
    fields = {}
    for match, following in zip(found, [*found[1:], None], strict=True):
        end = following.start() if following is not None else len(inner)
        fields[match[1]] = inner[match.end() : end]
    return fields


def _text(value: Any) -> str | None:
    if value is None or value == "null":
        return None
    text = str(value).strip()
    return text or None


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _ws_url(url: str) -> str:
    return "ws" + url.removeprefix("http")
