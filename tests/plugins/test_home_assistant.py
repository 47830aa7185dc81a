"""The Home Assistant plugin: the Companion app's last_notification sensor, from golden states,
and over the websocket API of a fake Home Assistant (fake_home_assistant.py).

Golden payloads (tests/plugins/home_assistant/) are sensor states as Home Assistant holds
them, with the attributes the Companion app sends, read from home-assistant/android:
`sensors/NotificationListenerSensorManager.kt` (the notification's extras by key, then
`package`, `post_time`, `is_clearable`, `is_ongoing`, `group_id`, `category`, `channel_id`;
the state is `android.text`, else `android.title`, else the package) and
`common/sensors/SensorManager.kt` (a null value sent as "null"; a list of anything but
numbers and booleans sent as a list of strings, so `android.messages`, Android's
`MessagingStyle.Message` bundles, arrives as `{sender_person=..., sender=..., text=...,
time=...}` text, keys in the Bundle's order).
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pydantic
import pytest
from aiohttp.test_utils import TestServer

from guardian.clock import VirtualClock
from guardian.testing import CONFORMANCE_NOW, PullCase, plugin_instance, pull_conformance_tests
from plugins.home_assistant import (
    PING_SECONDS,
    HomeAssistantPlugin,
    HomeAssistantSettings,
    notification_messages,
)
from plugins.network import SourceError
from tests.plugins import golden_json
from tests.plugins.fake_home_assistant import TOKEN, FakeHomeAssistant
from tests.pull import Reader

NETWORK = "home_assistant"
ENTITY = "sensor.pixel_8_last_notification"
#: The golden notifications were posted from 21:59Z on; the source starts before them.
STARTED = datetime(2026, 11, 25, 21, 50, tzinfo=UTC)

NON_MESSAGES = [
    "media_player.json",
    "download.json",
    "whatsapp_backup.json",
    "whatsapp_summary.json",
    "whatsapp_incoming_call.json",
    "weather_app.json",
]


def state(name: str) -> dict[str, Any]:
    document: dict[str, Any] = golden_json(NETWORK, name)
    return document


def attributes(name: str) -> dict[str, Any]:
    return dict(state(name)["attributes"])


def later(name: str, seconds: int) -> dict[str, Any]:
    """A golden state posted `seconds` later, its messages too (a new notification)."""
    shifted = copy.deepcopy(state(name))
    attrs = shifted["attributes"]
    attrs["post_time"] += seconds * 1000
    attrs["android.messages"] = [
        _shift_time(entry, seconds) for entry in attrs.get("android.messages", [])
    ]
    if not attrs["android.messages"]:
        del attrs["android.messages"]
    return shifted


def _shift_time(entry: str, seconds: int) -> str:
    head, _, time = entry[:-1].rpartition("time=")
    return f"{head}time={int(time) + seconds * 1000}}}"


# The sensor's attributes.


def test_a_messaging_style_notification_is_one_notification_per_message() -> None:
    messages = notification_messages(attributes("whatsapp_messaging_style.json"), {})
    assert [(m.sender_address, m.text) for m in messages] == [
        ("whatsapp:name:Sophie", "hey"),
        ("whatsapp:name:Sophie", "are you awake?"),
    ]
    assert messages[1].sent_at == datetime(2026, 11, 25, 21, 59, tzinfo=UTC)
    assert len({m.external_id for m in messages}) == 2


def test_a_group_chat_keeps_each_sender_and_skips_the_members_own() -> None:
    messages = notification_messages(attributes("whatsapp_group.json"), {})
    assert [(m.sender_name, m.text) for m in messages] == [
        ("Noah", "who has the maths homework?"),
        ("Sophie", "me, page 42"),
    ]
    assert all(m.group and m.conversation_title == "Class 3B" for m in messages)


def test_a_plain_notification_reads_its_big_text() -> None:
    [message] = notification_messages(attributes("telegram_plain.json"), {})
    assert message.sender_address == "telegram:name:Sophie"
    assert message.text == "are you there?\ncall me"


def test_a_title_that_is_a_number_is_the_number() -> None:
    [message] = notification_messages(attributes("google_messages_number.json"), {})
    assert message.sender_address == "sms:+31612345678"


@pytest.mark.parametrize("name", NON_MESSAGES)
def test_notifications_that_are_not_messages_yield_nothing(name: str) -> None:
    assert notification_messages(attributes(name), {}) == []


def test_a_source_can_add_a_messaging_app() -> None:
    apps = {"com.example.weather": "weather"}
    [message] = notification_messages(attributes("weather_app.json"), apps)
    assert message.sender_address == "weather:name:Rain tonight"


def test_a_repost_with_one_more_message_repeats_the_first_ids() -> None:
    first = notification_messages(attributes("whatsapp_messaging_style.json"), {})
    repost = attributes("whatsapp_messaging_style.json")
    repost["post_time"] += 60_000
    repost["android.messages"] = [
        *repost["android.messages"],
        "{sender_person=android.app.Person@5b1d8f2, sender=Sophie, text=hello??, "
        "time=1795644000000}",
    ]
    again = notification_messages(repost, {})
    assert [m.external_id for m in again[:2]] == [m.external_id for m in first]
    assert again[2].text == "hello??"


def test_messages_from_before_the_source_started_are_history() -> None:
    since = int(datetime(2026, 11, 25, 21, 59, 30, tzinfo=UTC).timestamp() * 1000)
    assert notification_messages(attributes("whatsapp_messaging_style.json"), {}, since) == []


def test_settings() -> None:
    good = {"url": "http://ha.local:8123/", "access_token": TOKEN, "entities": [ENTITY]}
    settings = HomeAssistantSettings(**good)
    assert settings.url == "http://ha.local:8123"
    assert TOKEN not in repr(settings)
    bad: dict[str, Any]
    for bad in (
        {"entities": []},
        {"entities": ["binary_sensor.door"]},
        {"url": "ha.local:8123"},
        {"apps": {"not a package": "chat"}},
    ):
        with pytest.raises(pydantic.ValidationError, match=next(iter(bad))):
            HomeAssistantSettings(**{**good, **bad})


# Against the fake Home Assistant.


@pytest.fixture
async def fake() -> AsyncIterator[FakeHomeAssistant]:
    home = FakeHomeAssistant()
    # The sensor as Home Assistant has it once the Companion app enabled it, before any
    # notification of an allowed app.
    home.states[ENTITY] = {
        "entity_id": ENTITY,
        "state": "unknown",
        "attributes": {"friendly_name": "Pixel 8 Last notification", "icon": "mdi:bell-ring"},
        "last_changed": "2026-11-25T20:00:00+00:00",
        "last_reported": "2026-11-25T20:00:00+00:00",
        "last_updated": "2026-11-25T20:00:00+00:00",
        "context": {"id": "01JDQ2AAAAAAAAAAAAAAAAAAAA", "parent_id": None, "user_id": None},
    }
    yield home


@pytest.fixture
async def server(fake: FakeHomeAssistant) -> AsyncIterator[TestServer]:
    server = TestServer(fake.app())
    await server.start_server()
    yield server
    await server.close()


def home_assistant(
    server: TestServer,
    session: aiohttp.ClientSession,
    clock: VirtualClock | None = None,
    **settings: Any,
) -> HomeAssistantPlugin:
    values = {
        "url": str(server.make_url("")).rstrip("/"),
        "access_token": TOKEN,
        "entities": [ENTITY],
        **settings,
    }
    return plugin_instance(
        HomeAssistantPlugin, values, session=session, clock=clock or VirtualClock(STARTED)
    )


async def test_a_new_source_starts_now_and_reads_each_new_notification(
    fake: FakeHomeAssistant, server: TestServer, session: aiohttp.ClientSession
) -> None:
    fake.states[ENTITY] = state("telegram_plain.json")  # from before the source: history
    started = VirtualClock(datetime(2026, 11, 25, 22, 0, tzinfo=UTC))
    pulling = Reader(home_assistant(server, session, started))
    try:
        [stored] = await pulling.wait_for(1)
        assert stored.messages == []  # only the cursor: when the source started
        assert json.loads(stored.cursor)["since"] == int(started.now().timestamp() * 1000)
        await fake.subscribed()
        for name in NON_MESSAGES:
            await fake.change(ENTITY, later(name, 120))
        await fake.change(ENTITY, later("whatsapp_messaging_style.json", 120))
        [_, batch] = await pulling.wait_for(2)
    finally:
        await pulling.stop()
    assert [m.text for m in batch.messages] == ["hey", "are you awake?"]
    subscribe = next(m for m in fake.received if m.get("type") == "subscribe_trigger")
    assert subscribe["trigger"] == {"platform": "state", "entity_id": [ENTITY]}
    assert fake.received[0] == {"type": "auth", "access_token": TOKEN}


async def test_a_new_source_takes_what_the_sensor_shows_as_history_whatever_its_time(
    fake: FakeHomeAssistant, server: TestServer, session: aiohttp.ClientSession
) -> None:
    """The phone's clock is not Guardian's: a notification shown before the source was added
    but stamped a minute after Guardian's "now" (a phone ahead) is still history."""
    fake.states[ENTITY] = state("telegram_plain.json")  # posted 21:59:04 by the phone
    behind = VirtualClock(datetime(2026, 11, 25, 21, 58, tzinfo=UTC))
    pulling = Reader(home_assistant(server, session, behind))
    try:
        [stored] = await pulling.wait_for(1)
        await fake.subscribed()
        await fake.change(ENTITY, later("google_messages_number.json", 60))
        [_, batch] = await pulling.wait_for(2)
    finally:
        await pulling.stop()
    assert stored.messages == []
    assert [m.text for m in batch.messages] == ["it's Sophie, new number"]
    # Stored with the first cursor: a restart does not take it for news either.
    assert json.loads(stored.cursor)["seen"] == {ENTITY: 1795643944000}


async def test_the_sensor_repeating_itself_is_read_once(
    fake: FakeHomeAssistant, server: TestServer, session: aiohttp.ClientSession
) -> None:
    pulling = Reader(home_assistant(server, session))
    try:
        await fake.subscribed()
        await fake.change(ENTITY, state("telegram_plain.json"))
        repeat = state("telegram_plain.json")  # the same notification, sent again
        repeat["last_updated"] = repeat["last_reported"] = "2026-11-25T21:59:09+00:00"
        await fake.change(ENTITY, repeat)
        await fake.change(ENTITY, state("whatsapp_group.json"))
        batches = await pulling.wait_for(3)
    finally:
        await pulling.stop()
    texts = [[m.text for m in b.messages] for b in batches]
    assert texts == [
        [],
        ["are you there?\ncall me"],
        ["who has the maths homework?", "me, page 42"],
    ]
    ids = [m.external_id for b in batches for m in b.messages]
    assert len(ids) == len(set(ids))


async def test_after_a_restart_of_home_assistant_it_reconnects_and_catches_up(
    fake: FakeHomeAssistant, server: TestServer, session: aiohttp.ClientSession
) -> None:
    pulling = Reader(home_assistant(server, session))
    try:
        await fake.subscribed()
        await fake.change(ENTITY, state("telegram_plain.json"))
        await pulling.wait_for(2)
        # A notification arrives while the connection is down: only the sensor's state has it.
        fake.states[ENTITY] = state("whatsapp_group.json")
        await fake.drop()
        [*_, caught_up] = await pulling.wait_for(3)
        assert [m.text for m in caught_up.messages] == [
            "who has the maths homework?",
            "me, page 42",
        ]
        await fake.subscribed(2)
        await fake.change(ENTITY, state("google_messages_number.json"))
        [*_, after] = await pulling.wait_for(4)
    finally:
        await pulling.stop()
    assert after.messages[0].sender_address == "sms:+31612345678"
    assert fake.connections == 2


async def test_a_new_instance_resumes_from_the_stored_cursor(
    fake: FakeHomeAssistant, server: TestServer, session: aiohttp.ClientSession
) -> None:
    first = Reader(home_assistant(server, session))
    try:
        await fake.subscribed()
        await fake.change(ENTITY, state("telegram_plain.json"))
        [_, stored] = await first.wait_for(2)
    finally:
        await first.stop()
    await fake.all_closed()
    # Guardian restarts (or was killed) with `stored.cursor` stored. While it was down, a
    # notification came: the sensor shows it, and the new instance reads it from there.
    fake.states[ENTITY] = state("whatsapp_group.json")
    again = Reader(home_assistant(server, session), stored.cursor)
    try:
        await fake.subscribed(2)
        await fake.change(ENTITY, state("google_messages_number.json"))
        batches = await again.wait_for(2)
    finally:
        await again.stop()
    texts = [m.text for b in batches for m in b.messages]
    assert texts == ["who has the maths homework?", "me, page 42", "it's Sophie, new number"]
    assert json.loads(batches[-1].cursor)["since"] == json.loads(stored.cursor)["since"]


async def test_a_new_instance_does_not_repeat_what_the_sensor_still_shows(
    fake: FakeHomeAssistant, server: TestServer, session: aiohttp.ClientSession
) -> None:
    first = Reader(home_assistant(server, session))
    try:
        await fake.subscribed()
        await fake.change(ENTITY, state("telegram_plain.json"))
        [_, stored] = await first.wait_for(2)
    finally:
        await first.stop()
    await fake.all_closed()
    again = Reader(home_assistant(server, session), stored.cursor)
    try:
        await fake.subscribed(2)
        await fake.change(ENTITY, state("google_messages_number.json"))
        [batch] = await again.wait_for(1)
    finally:
        await again.stop()
    assert [m.text for m in batch.messages] == ["it's Sophie, new number"]


async def test_an_unanswered_ping_makes_it_reconnect(
    fake: FakeHomeAssistant, server: TestServer, session: aiohttp.ClientSession
) -> None:
    clock = VirtualClock(STARTED)
    pulling = Reader(home_assistant(server, session, clock))

    def pings() -> int:
        return len([m for m in fake.received if m.get("type") == "ping"])

    async def tick_until(condition: Callable[[], bool]) -> None:
        # Ping time comes on the plugin's clock; move it on until the fake saw what we wait for.
        async with asyncio.timeout(5):
            while not condition():
                await clock.advance(timedelta(seconds=PING_SECONDS))
                await asyncio.sleep(0.02)

    try:
        await fake.subscribed()
        await tick_until(lambda: pings() >= 2)  # answered: the connection stays
        assert fake.connections == 1
        fake.answer_pings = False
        await tick_until(lambda: fake.connections == 2)
        await fake.subscribed(2)
    finally:
        await pulling.stop()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"token": "another-token"}, "refused the access token: Invalid access token"),
        ({"admin": False}, "administrator"),
        ({"states": {}}, f"has no {ENTITY}"),
    ],
    ids=["bad-token", "not-an-admin", "no-such-sensor"],
)
async def test_what_must_be_fixed_is_a_clear_error(
    fake: FakeHomeAssistant,
    server: TestServer,
    session: aiohttp.ClientSession,
    change: dict[str, Any],
    error: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name, value in change.items():
        setattr(fake, name, value)
    if "states" not in change:
        fake.states[ENTITY] = state("telegram_plain.json")
    pulling = Reader(home_assistant(server, session))
    failure = await pulling.failure()
    assert isinstance(failure, SourceError)
    assert error in str(failure)
    assert TOKEN not in str(failure)
    assert TOKEN not in caplog.text


async def test_an_unreachable_home_assistant_is_a_clear_error(
    session: aiohttp.ClientSession,
) -> None:
    plugin = plugin_instance(
        HomeAssistantPlugin,
        {"url": "http://127.0.0.1:9", "access_token": TOKEN, "entities": [ENTITY]},
        session=session,
    )
    failure = await Reader(plugin).failure()
    assert isinstance(failure, SourceError)
    assert "cannot reach Home Assistant at http://127.0.0.1:9" in str(failure)


async def test_stopping_closes_the_connection(
    fake: FakeHomeAssistant, server: TestServer, session: aiohttp.ClientSession
) -> None:
    fake.states[ENTITY] = state("telegram_plain.json")
    pulling = Reader(home_assistant(server, session))
    await fake.subscribed()
    assert fake.open == 1
    await pulling.stop()
    await fake.all_closed()


# --- the pull conformance suite, against the fake Home Assistant --------------------------------


class HomeAssistantNetwork:
    """Mia's phone behind a fake Home Assistant of its own; `fail` makes Home Assistant refuse
    the token (`auth_invalid`, as `websocket_api/auth.py` answers) and drops the connections,
    as a token revoked under Profile → Security does.

    The phone's clock runs on real time from 30 s ahead of Guardian's start (phones and servers
    never agree to the second): `post_time` is when the phone posted the notification."""

    AHEAD_MS = 30_000

    def __init__(self) -> None:
        self.fake = FakeHomeAssistant()
        self.fake.states[ENTITY] = state("telegram_plain.json")  # the sensor has a notification
        self.server = TestServer(self.fake.app())
        self.settings: dict[str, Any] = {}
        self.started = time.monotonic()
        self.last_post = 0

    async def __aenter__(self) -> HomeAssistantNetwork:
        await self.server.start_server()
        self.settings = {
            "url": str(self.server.make_url("")).rstrip("/"),
            "access_token": TOKEN,
            "entities": [ENTITY],
        }
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.close()

    def _phone_now(self) -> int:
        elapsed = int((time.monotonic() - self.started) * 1000)
        now = int(CONFORMANCE_NOW.timestamp() * 1000) + self.AHEAD_MS + elapsed
        self.last_post = max(now, self.last_post + 1)  # each notification its own post time
        return self.last_post

    async def send(self, key: str) -> None:
        posted = copy.deepcopy(state("telegram_plain.json"))
        attrs = posted["attributes"]
        attrs["post_time"] = self._phone_now()
        attrs["android.text"] = attrs["android.bigText"] = posted["state"] = f"still up? {key}"
        await self.fake.change(ENTITY, posted)

    async def fail(self) -> None:
        self.fake.token = "a-revoked-token"
        await self.fake.drop()

    async def recover(self) -> None:
        self.fake.token = TOKEN


@pytest.fixture
def home_assistant_case() -> PullCase:
    return PullCase(HomeAssistantPlugin, network=HomeAssistantNetwork, secrets=[TOKEN])


test_pull_conformance = pull_conformance_tests("home_assistant_case")
