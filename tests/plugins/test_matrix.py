"""The `matrix` pull plugin against a real Synapse (tests/synapse.py) and a simulated mautrix
bridge: an application service that registers ghosts, sets `m.bridge` state and sends as them.

Formats from the Matrix client-server spec (sync, filters, /messages, m.room.member,
m.room.encrypted), MSC2346 (m.bridge / uk.half-shot.bridge) and the mautrix bridges' ghost ids
(mautrix/whatsapp `pkg/waid/id.go`: `whatsapp_<phone>`; mautrix/signal: `signal_<ACI uuid>`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

import plugins.matrix
from guardian.contacts import canonical
from guardian.household import ContactView, HouseholdView
from guardian.plugin import PluginRegistry
from guardian.testing import PullCase, plugin_instance, pull_conformance_tests
from plugins.matrix import MatrixError, MatrixPlugin, MatrixSettings
from tests.conftest import free_port
from tests.pull import Reader, TcpProxy
from tests.synapse import BOT, SERVER_NAME, Account, Synapse

PHONE = "31612345678"
SIGNAL_UUID = "5f1b9d2e-8c47-4d3a-9e61-2b7f0c4a8d13"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as shared:
        yield shared


@pytest.fixture
def mia(homeserver: Synapse, caplog: pytest.LogCaptureFixture) -> Iterator[Account]:
    """The member's account; its token must never reach a log line, at any level."""
    caplog.set_level(logging.DEBUG)
    account = homeserver.register(homeserver.unique("mia"), "Mia")
    yield account
    for record in caplog.records:
        line = record.getMessage() + str(record.exc_info or "")
        assert account.token not in line, f"the access token in the log: {line}"


@pytest.fixture
def sophie(homeserver: Synapse) -> Account:
    return homeserver.register(homeserver.unique("sophie"), "Sophie")


def reader(
    server: Synapse,
    account: Account,
    session: aiohttp.ClientSession,
    cursor: str | None = None,
    **overrides: Any,
) -> Reader:
    settings = {"homeserver": server.url, "access_token": account.token, **overrides}
    return Reader(plugin_instance(MatrixPlugin, settings, session=session), cursor)


async def started(
    server: Synapse, account: Account, session: aiohttp.ClientSession, **overrides: Any
) -> Reader:
    """A new source past its first batch (its "now"), waiting in its long poll."""
    found = reader(server, account, session, **overrides)
    first = await found.batch()
    assert first.messages == []
    await found.nothing_more(0.3)
    return found


def direct_chat(person: Account, member: Account) -> str:
    room = person.create_room(invite=[member], preset="trusted_private_chat", is_direct=True)
    member.join(room)
    return room


def portal(
    server: Synapse,
    protocol: str,
    member: Account,
    ghosts: list[Account],
    name: str | None = None,
) -> str:
    """A room as a mautrix bridge makes one: created by its bot, with m.bridge state."""
    bridge = {
        "bridgebot": BOT,
        "creator": BOT,
        "protocol": {"id": protocol, "displayname": protocol.title()},
        "channel": {"id": "chat-1"},
    }
    state = [
        {"type": kind, "state_key": f"{SERVER_NAME}/bridge/{protocol}", "content": bridge}
        for kind in ("m.bridge", "uk.half-shot.bridge")
    ]
    extra = {"name": name} if name else {}
    bot = server.bot()
    room = bot.create_room(invite=[member, *ghosts], initial_state=state, **extra)
    for ghost in ghosts:
        ghost.join(room)
    member.join(room)
    bot.send(room, "Portal created", msgtype="m.notice")  # the bridge's own notice
    return room


def test_matrix_is_registered_as_a_pull_plugin() -> None:
    info = PluginRegistry.discover().plugins["matrix"]
    assert (info.kind, info.plugin, info.error) == ("pull", MatrixPlugin, None)


def test_settings_as_the_product_names_them() -> None:
    parsed = MatrixSettings.model_validate(
        {"homeserver": "https://matrix.example.org", "access_token": "syt_secret_123456"}
    )
    assert parsed.rooms is None
    assert "syt_secret_123456" not in repr(parsed) + str(parsed) + parsed.model_dump_json()
    with pytest.raises(ValueError, match="not a room id"):
        MatrixSettings.model_validate(
            {"homeserver": "https://m.example.org", "access_token": "x", "rooms": ["family"]}
        )
    plugin = plugin_instance(
        MatrixPlugin, {"homeserver": "https://m.example.org", "access_token": "syt_secret_123456"}
    )
    assert "syt_secret_123456" not in repr(plugin)


async def test_new_messages_named_from_member_state_and_own_ones_ignored(
    homeserver: Synapse, mia: Account, sophie: Account, session: aiohttp.ClientSession
) -> None:
    room = direct_chat(sophie, mia)
    sophie.send(room, "from before Guardian")
    found = await started(homeserver, mia, session)
    try:
        # Her name in this room, not her profile's: names come from the room's member state.
        sophie.state(
            room,
            "m.room.member",
            sophie.user_id,
            {"membership": "join", "displayname": "Sophie V."},
        )
        mia.send(room, "my own message")
        event = sophie.send(room, "are you awake?")
        [message] = await found.messages(1)
        await found.nothing_more()
    finally:
        await found.close()
    assert (message.network, message.sender_id) == ("matrix", sophie.user_id)
    assert message.sender_address == f"matrix:{sophie.user_id}"
    assert (message.sender_name, message.text) == ("Sophie V.", "are you awake?")
    assert (message.external_id, message.conversation_id, message.group) == (event, room, False)
    assert message.sent_at is not None and message.sent_at.tzinfo is not None


async def test_a_group_room_is_a_conversation_with_its_name(
    homeserver: Synapse, mia: Account, sophie: Account, session: aiohttp.ClientSession
) -> None:
    noor = homeserver.register(homeserver.unique("noor"), "Noor")
    room = sophie.create_room(invite=[mia, noor], name="Class 4B")
    mia.join(room)
    noor.join(room)
    found = await started(homeserver, mia, session)
    try:
        noor.send(room, "who has the homework?")
        [message] = await found.messages(1)
    finally:
        await found.close()
    assert (message.group, message.conversation_title) == (True, "Class 4B")
    assert (message.sender_name, message.conversation_id) == ("Noor", room)


async def test_bridged_networks_are_named_and_addressed_as_their_own(
    homeserver: Synapse, mia: Account, session: aiohttp.ClientSession
) -> None:
    whatsapp = homeserver.ghost(f"whatsapp_{PHONE}", "Sophie (WA)")
    signal = homeserver.ghost(f"signal_{SIGNAL_UUID}", "Noor")
    sms = homeserver.ghost("gmessages_1.42", "+31 6 9876 5432")
    other = homeserver.ghost("whatsapp_31687654321", "Lotte (WA)")
    telegram = homeserver.ghost("tg_99887766", "Sam")  # a bridge with its own ghost template
    whatsapp_chat = portal(homeserver, "whatsapp", mia, [whatsapp])
    signal_chat = portal(homeserver, "signal", mia, [signal])
    sms_chat = portal(homeserver, "gmessages", mia, [sms])
    group = portal(homeserver, "whatsapp", mia, [whatsapp, other], name="Hockey team")
    telegram_chat = portal(homeserver, "telegram", mia, [telegram])
    found = await started(homeserver, mia, session)
    try:
        homeserver.bot().send(whatsapp_chat, "Connected to WhatsApp", msgtype="m.notice")
        whatsapp.send(whatsapp_chat, "are you awake?")
        signal.send(signal_chat, "call me")
        sms.send(sms_chat, "your parcel")
        other.send(group, "practice moved")
        telegram.send(telegram_chat, "hi")
        messages = await found.messages(5)
        await found.nothing_more()
    finally:
        await found.close()
    by_text = {m.text: m for m in messages}
    assert by_text["are you awake?"].sender_address == f"whatsapp:{PHONE}"
    assert by_text["are you awake?"].sender_name == "Sophie"  # without the bridge's "(WA)"
    assert by_text["are you awake?"].group is False
    assert by_text["call me"].sender_address == f"signal:{SIGNAL_UUID}"
    assert by_text["your parcel"].sender_address == "sms:+31698765432"
    assert by_text["practice moved"].sender_address == "whatsapp:31687654321"
    assert (by_text["practice moved"].group, by_text["practice moved"].conversation_title) == (
        True,
        "Hockey team",
    )
    assert by_text["hi"].sender_address == "telegram:99887766"  # from the room's m.bridge
    # Contacts as a family writes them: one person across networks, matched as ingest matches.
    sophie = contact("sophie", "sms:+31 6 1234 5678")
    noor = contact("noor", f"signal:{SIGNAL_UUID}", "sms:+31698765432")
    sam = contact("sam", "telegram:99887766")
    household = HouseholdView(
        id="h",
        name="h",
        zone=ZoneInfo("Europe/Amsterdam"),
        members={},
        contacts={},
        sources={},
        by_address={canonical(a): c for c in (sophie, noor, sam) for a in c.addresses},
    )
    assert household.contact_for(by_text["are you awake?"].sender_address) == sophie
    assert household.contact_for(by_text["call me"].sender_address) == noor
    assert household.contact_for(by_text["your parcel"].sender_address) == noor
    assert household.contact_for(by_text["hi"].sender_address) == sam
    assert household.contact_for(by_text["practice moved"].sender_address) is None


def contact(slug: str, *addresses: str) -> ContactView:
    return ContactView(
        pk=len(slug), id=slug, name=slug.title(), trust="normal", addresses=addresses
    )


async def test_an_encrypted_event_counts_as_a_message_without_text(
    homeserver: Synapse, mia: Account, sophie: Account, session: aiohttp.ClientSession
) -> None:
    room = direct_chat(sophie, mia)
    sophie.state(room, "m.room.encryption", "", {"algorithm": "m.megolm.v1.aes-sha2"})
    found = await started(homeserver, mia, session)
    try:
        sophie.send(
            room,
            "",
            kind="m.room.encrypted",
            content={
                "algorithm": "m.megolm.v1.aes-sha2",
                "ciphertext": "AwgAEnACgAkLmt6qF84IK++J7UDH2Za1YVchHyprqTqsg",
                "device_id": "SOPHIEPHONE",
                "sender_key": "IlRMeOPX2e0MurIyfWEucYBRVOEEUMrOHqn/8mLqMjA",
                "session_id": "X3lUlvLELLYxeTx4yOVu6UDpasGEVO0Jbu+QFnm0cKQ",
            },
        )
        [message] = await found.messages(1)
    finally:
        await found.close()
    assert (message.sender_address, message.sender_name, message.text) == (
        f"matrix:{sophie.user_id}",
        "Sophie",
        "",
    )


async def test_a_resumed_cursor_fills_the_gap_without_repeats(
    homeserver: Synapse,
    mia: Account,
    sophie: Account,
    session: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(plugins.matrix, "TIMELINE_LIMIT", 5)
    monkeypatch.setattr(plugins.matrix, "PAGE", 4)
    gaps: list[int] = []
    fill = MatrixPlugin._missed

    async def counted(plugin: MatrixPlugin, *args: Any) -> Any:
        found = await fill(plugin, *args)
        gaps.append(len(found[0]))
        return found

    monkeypatch.setattr(MatrixPlugin, "_missed", counted)
    room = direct_chat(sophie, mia)
    first = await started(homeserver, mia, session)
    try:
        sophie.send(room, "before the restart")
        [before] = await first.messages(1)
    finally:
        await first.close()
    # Guardian stored `first.cursor` with that message; while it is down, 12 more arrive, more
    # than one sync's timeline holds: the timeline comes `limited`, and the gap is filled.
    sent = [f"message {n}" for n in range(12)]
    for text in sent:
        sophie.send(room, text)
    again = reader(homeserver, mia, session, first.cursor)
    try:
        resumed = await again.messages(12)
        await again.nothing_more()
        sophie.send(room, "after")
        resumed += await again.messages(1)
    finally:
        await again.close()
    assert before.text == "before the restart"
    # The sync brought the last 5, /messages the 7 before them; or, as after a kill -9 while
    # the first Guardian's next long poll was open, Synapse answered that poll with the first
    # message and keeps the answer (`sync_response_cache_duration`, 2 min) for the same
    # `since`: the restarted one gets that one, then 11, the last 5 in the sync, 6 by /messages.
    assert gaps in ([7], [6]), gaps
    assert [m.text for m in resumed] == [*sent, "after"]
    assert len({m.external_id for m in resumed}) == 13
    # A restarted Guardian knows no members: the gap's writers are named from /messages' state.
    assert all(m.sender_name == "Sophie" for m in resumed)


async def test_only_the_rooms_named_by_id_or_alias(
    homeserver: Synapse, mia: Account, sophie: Account, session: aiohttp.ClientSession
) -> None:
    alias = homeserver.unique("family")
    family = sophie.create_room(invite=[mia], name="Family", room_alias_name=alias)
    mia.join(family)
    other = direct_chat(sophie, mia)
    found = await started(homeserver, mia, session, rooms=[f"#{alias}:{SERVER_NAME}"])
    try:
        sophie.send(other, "not this one")
        sophie.send(family, "dinner at six")
        [message] = await found.messages(1)
        await found.nothing_more()
    finally:
        await found.close()
    assert (message.text, message.conversation_id) == ("dinner at six", family)


async def test_a_refused_token_is_a_clear_error_without_the_token(
    homeserver: Synapse, session: aiohttp.ClientSession
) -> None:
    wrong = Account(homeserver, "@nobody:guardian.test", "syt_d3JvbmcK_wrongtoken_12345")
    found = reader(homeserver, wrong, session)
    with pytest.raises(MatrixError) as refused:
        await found.batch()
    text = str(refused.value)
    assert "refused the access token (M_UNKNOWN_TOKEN)" in text
    assert wrong.token not in text


async def test_cancelling_the_long_poll_stops_at_once(
    homeserver: Synapse, mia: Account, session: aiohttp.ClientSession
) -> None:
    found = await started(homeserver, mia, session)
    async with asyncio.timeout(1):
        await found.close()


async def test_edits_notices_and_reactions_are_not_messages_media_is_shown_as_such(
    homeserver: Synapse, mia: Account, sophie: Account, session: aiohttp.ClientSession
) -> None:
    room = direct_chat(sophie, mia)
    found = await started(homeserver, mia, session)
    try:
        original = sophie.send(room, "see you at 5")
        [first] = await found.messages(1)
        sophie.send(
            room,
            "",
            content={
                "msgtype": "m.text",
                "body": "* see you at 6",
                "m.new_content": {"msgtype": "m.text", "body": "see you at 6"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": original},
            },
        )
        sophie.send(
            room,
            "",
            kind="m.reaction",
            content={
                "m.relates_to": {"rel_type": "m.annotation", "event_id": original, "key": "👍"}
            },
        )
        sophie.send(room, "automatic reply", msgtype="m.notice")
        sophie.send(
            room, "", content={"msgtype": "m.image", "body": "IMG_2041.jpg", "url": "mxc://x/y"}
        )
        [photo] = await found.messages(1)
        await found.nothing_more()
    finally:
        await found.close()
    assert (first.text, photo.text) == ("see you at 5", "[photo]")


async def test_an_unreachable_homeserver_is_the_sources_error(
    session: aiohttp.ClientSession, mia: Account
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    plugin = plugin_instance(
        MatrixPlugin, {"homeserver": closed, "access_token": mia.token}, session=session
    )
    with pytest.raises(MatrixError, match="ClientConnectorError"):
        await Reader(plugin, None).batch()


# --- the pull conformance suite, against the real Synapse behind a relay that can fail ---------


class MatrixNetwork:
    """Mia's direct chat with Sophie on the real Synapse, reached through a relay that `fail`
    cuts off (the homeserver gone: a restart, the host down)."""

    def __init__(self, server: Synapse, mia: Account, sophie: Account, room: str) -> None:
        self.mia, self.sophie, self.room = mia, sophie, room
        self.proxy = TcpProxy("127.0.0.1", int(server.url.rstrip("/").rsplit(":", 1)[1]))
        self.settings: dict[str, Any] = {}

    async def __aenter__(self) -> MatrixNetwork:
        await self.proxy.__aenter__()
        homeserver = f"http://127.0.0.1:{self.proxy.port}"
        self.settings = {"homeserver": homeserver, "access_token": self.mia.token}
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.proxy.__aexit__(*exc)

    async def send(self, key: str) -> None:
        await asyncio.to_thread(self.sophie.send, self.room, f"are you awake? {key}")

    async def fail(self) -> None:
        self.proxy.fail()

    async def recover(self) -> None:
        self.proxy.recover()


@pytest.fixture
def matrix_case(homeserver: Synapse, mia: Account, sophie: Account) -> PullCase:
    room = direct_chat(sophie, mia)
    return PullCase(
        MatrixPlugin,
        network=lambda: MatrixNetwork(homeserver, mia, sophie, room),
        secrets=[mia.token],
    )


test_pull_conformance = pull_conformance_tests("matrix_case")
