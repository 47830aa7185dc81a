"""Matrix: a member's rooms by long-polling `/sync`, and through the mautrix bridges their chats on
WhatsApp, Signal, Telegram, Instagram, Messenger and Google Messages, each named by its network.

Client-server API v3 (spec.matrix.org, "Syncing" and "Filtering"): `/sync?since=<next_batch>` with
a filter; a `limited` timeline has a gap, filled backwards with `/rooms/{id}/messages` from its
`prev_batch` to the previous `next_batch`. The cursor is that `next_batch`.

Who wrote: a bridge's ghost users have ids `@<network>_<id>` (mautrix: WhatsApp `pkg/waid`, Signal,
Telegram, Meta, Google Messages), and a bridged room carries `m.bridge` / `uk.half-shot.bridge`
state (MSC2346) naming the protocol. A ghost's message is addressed on its own network
(`whatsapp:31612345678`, which contacts also match as `sms:+31612345678`); anyone else is
`matrix:@user:server`. The account's own messages, bots' notices, edits and redactions are not
messages to the member. An end-to-end encrypted event counts as a message with no text: reading
it would need this plugin to be a verified device with its own keys (see the README).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from pydantic import AnyHttpUrl, Field, SecretStr, field_validator

from guardian.plugin import (
    IncomingMessage,
    PluginContext,
    PluginSettings,
    PullBatch,
    PullPlugin,
    SourceError,
)
from guardian.webhook_format import MAX_TEXT
from plugins import GETTEXT_DOMAIN, LOCALE_DIR

#: How long the homeserver holds a `/sync` open when nothing happens (milliseconds).
LONG_POLL_MS = 30_000
#: Events per room per sync; more than this and the timeline is `limited` (a gap to fill).
TIMELINE_LIMIT = 50
#: A gap fill reads at most this many events backwards (a room flooded while Guardian was away).
GAP_LIMIT = 2_000
PAGE = 100
#: A request slower than this (beyond the long poll itself) has failed.
TIMEOUT = 30
NAME_LENGTH = 200

MESSAGE = "m.room.message"
ENCRYPTED = "m.room.encrypted"
STICKER = "m.sticker"
BRIDGE_STATE = ("m.bridge", "uk.half-shot.bridge")
STATE = ("m.room.member", "m.room.name", "m.room.canonical_alias", *BRIDGE_STATE)

#: A bridge's protocol id (m.bridge `protocol.id`, or a ghost's localpart prefix) → our network.
NETWORKS = {
    "whatsapp": "whatsapp",
    "signal": "signal",
    "telegram": "telegram",
    "instagram": "instagram",
    "instagramgo": "instagram",
    "facebook": "facebook",
    "facebookgo": "facebook",
    "messenger": "facebook",
    "gmessages": "sms",
}
#: Ghost localparts: `whatsapp_31612345678`, `whatsapp_lid-123`, `signal_<uuid>`, `gmessages_1.42`.
GHOST = re.compile(r"^(" + "|".join(sorted(NETWORKS, key=len, reverse=True)) + r")_(.+)$")
#: What the bridges append to a ghost's name (`Sophie (WA)`), which a contact's name does not have.
NAME_SUFFIX = re.compile(
    r"\s+\((?:WA|WhatsApp|Signal|Telegram|Instagram|Facebook|Messenger|GMessages|SMS)\)$",
    re.IGNORECASE,
)
PHONE = re.compile(r"^\+?[\d\s().-]{7,20}$")

MEDIA = {
    "m.image": "[photo]",
    "m.video": "[video]",
    "m.audio": "[audio]",
    "m.file": "[file]",
    "m.location": "[location]",
}


class MatrixSettings(PluginSettings):
    homeserver: AnyHttpUrl = Field(
        description="the homeserver's client URL, https://matrix.example.org"
    )
    access_token: SecretStr = Field(description="the member's access token (a device of theirs)")
    rooms: list[str] | None = Field(
        None,
        description="room ids (!id:server) or aliases (#name:server); default every joined room",
    )

    @field_validator("rooms")
    @classmethod
    def _room_names(cls, rooms: list[str] | None) -> list[str] | None:
        for room in rooms or ():
            if not re.fullmatch(r"[!#][^:\s]+:\S+", room):
                raise ValueError(f"{room!r} is not a room id (!id:server) or alias (#name:server)")
        return rooms


class MatrixError(SourceError):
    """The homeserver refused us: shown as the source's error (never with the token)."""


@dataclass
class Room:
    """What we know of a joined room's state: enough to name senders, networks and the room."""

    id: str
    name: str | None = None
    alias: str | None = None
    #: Display names by user id, from m.room.member.
    members: dict[str, str | None] = field(default_factory=dict)
    #: Our network for the room's bridge (m.bridge protocol), and its bot.
    network: str | None = None
    bots: set[str] = field(default_factory=set)
    joined: int = 0
    heroes: list[str] = field(default_factory=list)
    direct: bool = False

    def take(self, event: dict[str, Any]) -> None:
        """Take one state event into what we know."""
        kind, key, content = event.get("type"), event.get("state_key"), event.get("content")
        if not isinstance(key, str) or not isinstance(content, dict):
            return
        if kind == "m.room.member":
            if content.get("membership") in ("join", "invite"):
                name = content.get("displayname")
                self.members[key] = name if isinstance(name, str) and name.strip() else None
            else:
                self.members.pop(key, None)
        elif kind == "m.room.name":
            name = content.get("name")
            self.name = name.strip() if isinstance(name, str) and name.strip() else None
        elif kind == "m.room.canonical_alias":
            alias = content.get("alias")
            self.alias = alias if isinstance(alias, str) else None
        elif kind in BRIDGE_STATE:
            protocol = content.get("protocol")
            protocol_id = protocol.get("id") if isinstance(protocol, dict) else None
            if isinstance(protocol_id, str):
                self.network = NETWORKS.get(protocol_id.lower(), protocol_id.lower()[:32])
            bot = content.get("bridgebot")
            if isinstance(bot, str):
                self.bots.add(bot)

    def summarise(self, summary: Any) -> None:
        if isinstance(summary, dict):
            count = summary.get("m.joined_member_count")
            if isinstance(count, int):
                self.joined = count
            heroes = summary.get("m.heroes")
            if isinstance(heroes, list):
                self.heroes = [h for h in heroes if isinstance(h, str)]

    @property
    def group(self) -> bool:
        """More than two people (bridge bots do not count), and not marked as a direct chat."""
        people = self.joined - len(self.bots)
        return not self.direct and people > 2

    @property
    def title(self) -> str | None:
        if self.name:
            return self.name[:NAME_LENGTH]
        if self.alias:
            return self.alias[:NAME_LENGTH]
        names = [self.members.get(h) or _localpart(h) for h in self.heroes[:5]]
        return ", ".join(names)[:NAME_LENGTH] or None


class MatrixPlugin(PullPlugin[MatrixSettings]):
    settings_model = MatrixSettings
    gettext_domain = GETTEXT_DOMAIN
    locale_dir = LOCALE_DIR

    def __init__(self, context: PluginContext[MatrixSettings]) -> None:
        super().__init__(context)
        self._base = str(self.settings.homeserver).rstrip("/")
        self._rooms: dict[str, Room] = {}
        self._me = ""
        self._only: set[str] | None = None
        self._direct: set[str] = set()

    async def pull(self, cursor: str | None) -> AsyncIterator[PullBatch]:
        self._me = (await self._get("/_matrix/client/v3/account/whoami"))["user_id"]
        self._only = await self._resolve(self.settings.rooms)
        # What every room is called and bridged to now: one sync with no timeline. A new source
        # also takes its "now" from it: history is never imported.
        first = await self._sync(None, self._state_filter())
        self._read_direct(first)
        for room_id, joined in _joined(first).items():
            self._room(room_id, joined)
        since = self._read_cursor(cursor)
        if since is None:
            since = first["next_batch"]
            yield PullBatch([], self._write_cursor(since))
        while True:
            response = await self._sync(since, self._timeline_filter(), hold_ms=LONG_POLL_MS)
            self._read_direct(response)
            messages: list[IncomingMessage] = []
            for room_id, joined in _joined(response).items():
                if self._only is not None and room_id not in self._only:
                    continue
                messages += await self._read_room(room_id, joined, since)
            since = response["next_batch"]
            yield PullBatch(messages, self._write_cursor(since))

    async def _read_room(
        self, room_id: str, joined: dict[str, Any], since: str
    ) -> list[IncomingMessage]:
        """The messages of one room in a sync, the gap before them first, in order."""
        room = self._room(room_id, joined, with_state=False)
        timeline = joined.get("timeline") or {}
        messages = []
        if timeline.get("limited") and timeline.get("prev_batch"):
            missed, members = await self._missed(room_id, timeline["prev_batch"], since)
            for event in members:
                room.take(event)
            messages += self._read_events(room, missed)
        # The sync's state is the state where its timeline starts, after any gap.
        self._room(room_id, joined)
        return messages + self._read_events(room, timeline.get("events") or [])

    def _read_events(self, room: Room, events: Iterable[Any]) -> list[IncomingMessage]:
        messages = []
        for event in events:
            if not isinstance(event, dict):
                continue
            if "state_key" in event:
                room.take(event)
                continue
            message = self._message(room, event)
            if message is not None:
                messages.append(message)
        return messages

    async def _missed(
        self, room_id: str, start: str, since: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """A gap's events, oldest first (backwards from `start` to the previous sync), and the
        member events of those who wrote in it."""
        found: list[dict[str, Any]] = []
        members: list[dict[str, Any]] = []
        token: str | None = start
        path = f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/messages"
        event_filter = {"types": [MESSAGE, ENCRYPTED, STICKER, *STATE], "lazy_load_members": True}
        while token is not None and len(found) < GAP_LIMIT:
            page = await self._get(
                path,
                {
                    "from": token,
                    "to": since,
                    "dir": "b",
                    "limit": str(PAGE),
                    "filter": json.dumps(event_filter),
                },
            )
            chunk = [e for e in page.get("chunk") or [] if isinstance(e, dict)]
            found += chunk
            members += [e for e in page.get("state") or [] if isinstance(e, dict)]
            token = page.get("end") if chunk else None
        if len(found) >= GAP_LIMIT:
            self.log.warning(
                "room %s had more than %d events while Guardian was away: the oldest are skipped",
                room_id,
                GAP_LIMIT,
            )
        found.reverse()
        return found, members

    def _message(self, room: Room, event: dict[str, Any]) -> IncomingMessage | None:
        sender, kind = event.get("sender"), event.get("type")
        event_id, content = event.get("event_id"), event.get("content")
        if not isinstance(sender, str) or not isinstance(event_id, str):
            return None
        if sender == self._me or sender in room.bots or not isinstance(content, dict):
            return None
        if kind == ENCRYPTED:
            text = ""  # e2e: the text is for the member's own devices only
        elif kind == STICKER:
            text = "[sticker]"
        elif kind == MESSAGE:
            found = _text(content)
            if found is None:
                return None
            text = found
        else:
            return None
        network, address, name = self._sender(room, sender)
        stamp = event.get("origin_server_ts")
        return IncomingMessage(
            external_id=event_id[:255],
            network=network,
            sender_id=address,
            sender_name=name,
            text=text[:MAX_TEXT],
            sent_at=datetime.fromtimestamp(stamp / 1000, UTC) if isinstance(stamp, int) else None,
            conversation_id=room.id[:255],
            conversation_title=room.title if room.group else None,
            group=room.group,
        )

    def _sender(self, room: Room, user_id: str) -> tuple[str, str, str | None]:
        """`(network, address on it, display name)` of a sender in a room."""
        shown = room.members.get(user_id)
        name = NAME_SUFFIX.sub("", shown).strip() if shown else None
        localpart = _localpart(user_id)
        ghost = GHOST.match(localpart)
        network = NETWORKS[ghost.group(1)] if ghost else room.network
        if network is None:
            return "matrix", user_id[:290], (name or localpart)[:NAME_LENGTH]
        ident = ghost.group(2) if ghost else localpart.partition("_")[2] or localpart
        if network == "sms":
            # Google Messages' ghosts carry no number; the name shown is a number or a name.
            ident = _phone(name) or f"name:{name or ident}"
        elif network == "signal" and ghost is None:
            ident = ident.lower()
        return network, ident[:290], (name or None) and name[:NAME_LENGTH]

    # The room state we keep.

    def _room(self, room_id: str, joined: dict[str, Any], with_state: bool = True) -> Room:
        """The room, with what a sync says of it: its summary and (`with_state`) its state."""
        room = self._rooms.setdefault(room_id, Room(room_id, direct=room_id in self._direct))
        room.summarise(joined.get("summary"))
        if with_state:
            for event in (joined.get("state") or {}).get("events") or []:
                if isinstance(event, dict):
                    room.take(event)
        return room

    def _read_direct(self, response: dict[str, Any]) -> None:
        """Rooms the member marked as direct chats (m.direct account data) are never groups."""
        for event in (response.get("account_data") or {}).get("events") or []:
            if isinstance(event, dict) and event.get("type") == "m.direct":
                content = event.get("content")
                lists = content.values() if isinstance(content, dict) else ()
                self._direct = {r for rooms in lists if isinstance(rooms, list) for r in rooms}
                for room_id, room in self._rooms.items():
                    room.direct = room_id in self._direct

    # Talking to the homeserver.

    def _state_filter(self) -> str:
        return json.dumps(
            {
                "presence": {"not_types": ["*"]},
                "account_data": {"types": ["m.direct"]},
                "room": {
                    "timeline": {"limit": 0},
                    "state": {"types": list(STATE), "lazy_load_members": True},
                    "ephemeral": {"not_types": ["*"]},
                    "account_data": {"not_types": ["*"]},
                    **self._room_list(),
                },
            }
        )

    def _timeline_filter(self) -> str:
        return json.dumps(
            {
                "presence": {"not_types": ["*"]},
                "account_data": {"types": ["m.direct"]},
                "room": {
                    # State changes are asked for in the timeline too, so that one in the middle
                    # of it (a rename, a new member) is seen in order.
                    "timeline": {
                        "limit": TIMELINE_LIMIT,
                        "types": [MESSAGE, ENCRYPTED, STICKER, *STATE],
                    },
                    # Members are sent for the senders in the timeline; "redundant" because a
                    # restarted Guardian has forgotten what the server believes it was sent.
                    "state": {
                        "types": list(STATE),
                        "lazy_load_members": True,
                        "include_redundant_members": True,
                    },
                    "ephemeral": {"not_types": ["*"]},
                    "account_data": {"not_types": ["*"]},
                    **self._room_list(),
                },
            }
        )

    def _room_list(self) -> dict[str, Any]:
        return {"rooms": sorted(self._only)} if self._only is not None else {}

    async def _resolve(self, rooms: Iterable[str] | None) -> set[str] | None:
        if rooms is None:
            return None
        found = set()
        for room in rooms:
            if room.startswith("#"):
                answer = await self._get(
                    f"/_matrix/client/v3/directory/room/{quote(room, safe='')}"
                )
                found.add(answer["room_id"])
            else:
                found.add(room)
        return found

    async def _sync(self, since: str | None, sync_filter: str, hold_ms: int = 0) -> dict[str, Any]:
        query = {"filter": sync_filter, "timeout": str(hold_ms), "set_presence": "offline"}
        if since is not None:
            query["since"] = since
        answer = await self._get("/_matrix/client/v3/sync", query, wait=hold_ms / 1000)
        if not isinstance(answer.get("next_batch"), str):
            raise MatrixError(f"{self._base}: /sync answered without a next_batch")
        return answer

    async def _get(
        self, path: str, query: dict[str, str] | None = None, wait: float = 0
    ) -> dict[str, Any]:
        """GET from the client API; a refusal or a network failure is a MatrixError."""
        session = self.context.session
        assert session is not None, "Guardian gives pull plugins a session"
        headers = {"Authorization": f"Bearer {self.settings.access_token.get_secret_value()}"}
        timeout = aiohttp.ClientTimeout(total=wait + TIMEOUT)
        where = f"{self._base}{path}"
        for _ in range(5):
            try:
                async with session.get(
                    self._base + path, params=query, headers=headers, timeout=timeout
                ) as response:
                    status = response.status
                    try:
                        answer = await response.json(content_type=None)
                    except ValueError:
                        answer = None
            except aiohttp.ClientError as error:
                raise MatrixError(f"{where}: {type(error).__name__}: {error}") from None
            except TimeoutError:
                raise MatrixError(f"{where}: no answer within {wait + TIMEOUT:.0f} s") from None
            if status == 429:  # rate limited: wait as long as the homeserver asks, then again
                retry = answer.get("retry_after_ms") if isinstance(answer, dict) else None
                seconds = retry / 1000 if isinstance(retry, int | float) else 5.0
                await self.context.clock.sleep(min(seconds, 300))
                continue
            if status >= 400 or not isinstance(answer, dict):
                raise MatrixError(_refusal(where, status, answer))
            return answer
        raise MatrixError(f"{where}: still rate limited (429) after 5 tries")

    # The cursor.

    def _read_cursor(self, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        try:
            since = json.loads(cursor)["next_batch"]
        except (ValueError, TypeError, KeyError):
            since = None
        if not isinstance(since, str) or not since:
            self.log.warning(
                "the stored cursor %r is not a Matrix cursor: reading from now", cursor
            )
            return None
        return since

    @staticmethod
    def _write_cursor(since: str) -> str:
        return json.dumps({"next_batch": since})


def _joined(response: dict[str, Any]) -> dict[str, dict[str, Any]]:
    joined = (response.get("rooms") or {}).get("join") or {}
    return (
        {k: v for k, v in joined.items() if isinstance(v, dict)} if isinstance(joined, dict) else {}
    )


def _text(content: dict[str, Any]) -> str | None:
    """What a person wrote; None for what is not a new message (notices, edits, redactions)."""
    relation = content.get("m.relates_to")
    if isinstance(relation, dict) and relation.get("rel_type") == "m.replace":
        return None  # an edit of a message already counted
    kind, body = content.get("msgtype"), content.get("body")
    if kind == "m.notice" or not isinstance(kind, str):
        return None  # bots and bridges speak in notices; a redacted event has no msgtype
    body = body if isinstance(body, str) else ""
    if kind in MEDIA:
        caption = body if content.get("filename") not in (None, body) else ""
        return f"{MEDIA[kind]} {caption}".strip()
    if kind == "m.emote":
        return f"* {body}"
    return body


def _localpart(user_id: str) -> str:
    return user_id.removeprefix("@").partition(":")[0]


def _phone(name: str | None) -> str | None:
    if name and PHONE.fullmatch(name):
        digits = re.sub(r"[^\d+]", "", name)
        return digits if digits.startswith("+") else None
    return None


def _refusal(where: str, status: int, answer: Any) -> str:
    code = answer.get("errcode") if isinstance(answer, dict) else None
    text = answer.get("error") if isinstance(answer, dict) else None
    if code == "M_UNKNOWN_TOKEN" or status == 401:
        why = f"{code or status}): {text or 'no reason given'}"
        return f"{where}: the homeserver refused the access token ({why}"
    return f"{where}: HTTP {status} {code or ''} {text or ''}".strip()
