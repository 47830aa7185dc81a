"""The telegram_poll plugin: getUpdates long polling against a fake Bot API (fake_telegram.py),
with the telegram plugin's golden Updates (tests/plugins/telegram/)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pydantic
import pytest
from aiohttp.test_utils import TestServer

from guardian.clock import VirtualClock
from guardian.settings import format_validation_errors
from guardian.testing import CONFORMANCE_NOW, PullCase, plugin_instance, pull_conformance_tests
from plugins.network import SourceError
from plugins.telegram_poll import ALLOWED_UPDATES, TelegramPollPlugin, TelegramPollSettings
from tests.plugins import golden_json
from tests.plugins.fake_telegram import TOKEN, FakeTelegram
from tests.pull import Reader


def update(name: str, update_id: int) -> dict[str, Any]:
    document: dict[str, Any] = copy.deepcopy(golden_json("telegram", name))
    document["update_id"] = update_id
    return document


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    yield FakeTelegram()


@pytest.fixture
async def server(fake: FakeTelegram) -> AsyncIterator[TestServer]:
    server = TestServer(fake.app())
    await server.start_server()
    yield server
    await server.close()


def poller(
    server: TestServer, session: aiohttp.ClientSession, clock: VirtualClock | None = None
) -> TelegramPollPlugin:
    settings = {"bot_token": TOKEN, "api_url": str(server.make_url("")).rstrip("/")}
    return plugin_instance(
        TelegramPollPlugin, settings, session=session, clock=clock or VirtualClock(CONFORMANCE_NOW)
    )


async def test_a_new_source_starts_now_then_reads_messages_and_business_messages(
    fake: FakeTelegram, server: TestServer, session: aiohttp.ClientSession
) -> None:
    fake.send(update("private_text.json", 100), update("group_text.json", 101))  # history
    pulling = Reader(poller(server, session))
    try:
        [start] = await pulling.wait_for(1)
        assert (start.messages, start.cursor) == ([], "102")
        fake.send(update("business_message.json", 102), update("private_text.json", 103))
        batches = await pulling.wait_for(2)
    finally:
        await pulling.stop()
    [batch] = batches[1:]
    assert [m.text for m in batch.messages] == ["are you still up? 😟", "are you awake? 😢"]
    assert [m.external_id for m in batch.messages] == ["102", "103"]
    assert batch.cursor == "104"
    assert fake.polls[0] == {"offset": -1, "timeout": 0}
    assert fake.polls[1]["offset"] == 102
    assert fake.polls[1]["allowed_updates"] == ALLOWED_UPDATES
    assert fake.polls[1]["timeout"] == 50


async def test_updates_that_are_not_messages_move_the_cursor_only(
    fake: FakeTelegram, server: TestServer, session: aiohttp.ClientSession
) -> None:
    pulling = Reader(poller(server, session), "200")
    try:
        fake.send(
            update("business_connection.json", 200),
            update("business_message_own.json", 201),
            update("business_message_by_bot.json", 202),
            update("deleted_business_messages.json", 203),
            update("edited_message.json", 204),
            {"update_id": 205, "poll": {"id": "1", "question": "?"}},
        )
        [batch] = await pulling.wait_for(1)
    finally:
        await pulling.stop()
    assert (batch.messages, batch.cursor) == ([], "206")


async def test_a_new_instance_resumes_from_the_stored_cursor(
    fake: FakeTelegram, server: TestServer, session: aiohttp.ClientSession
) -> None:
    fake.send(update("business_message.json", 300))
    first = Reader(poller(server, session), "300")
    try:
        [stored] = await first.wait_for(1)
    finally:
        await first.stop()
    fake.send(update("edited_business_message.json", 301))
    # Killed after the batch was stored: the new instance asks from the stored offset, which
    # confirms the stored update to Telegram, and reads on.
    resumed = Reader(poller(server, session), stored.cursor)
    try:
        [batch] = await resumed.wait_for(1)
    finally:
        await resumed.stop()
    assert [m.external_id for m in batch.messages] == ["301"]
    # Killed before it was stored: from the old cursor, Telegram would give 300 again (kept
    # for 24 h): the same update id, which Guardian counts as a duplicate.
    assert stored.messages[0].external_id == "300"


async def test_a_429_is_waited_out_on_guardians_clock(
    fake: FakeTelegram, server: TestServer, session: aiohttp.ClientSession
) -> None:
    clock = VirtualClock(CONFORMANCE_NOW)
    fake.throttle = 7
    fake.send(update("private_text.json", 400))
    pulling = Reader(poller(server, session, clock), "400")
    try:
        async with asyncio.timeout(5):
            while len(fake.polls) < 1:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert pulling.batches == []
        await clock.advance(timedelta(seconds=7))
        [batch] = await pulling.wait_for(1)
    finally:
        await pulling.stop()
    assert batch.messages[0].external_id == "400"


async def test_it_refuses_to_start_while_the_bot_has_a_webhook(
    fake: FakeTelegram, server: TestServer, session: aiohttp.ClientSession
) -> None:
    fake.webhook = "https://guardian.example.org/hooks/mia-telegram"
    failure = await Reader(poller(server, session)).failure()
    assert isinstance(failure, SourceError)
    assert "webhook" in str(failure) and "deleteWebhook" in str(failure)
    assert fake.polls == []  # it did not even try


async def test_a_webhook_set_later_is_a_clear_error(
    fake: FakeTelegram, server: TestServer, session: aiohttp.ClientSession
) -> None:
    pulling = Reader(poller(server, session), "1")
    async with asyncio.timeout(5):
        while not fake.polls:
            await asyncio.sleep(0.01)
    fake.webhook = "https://guardian.example.org/hooks/mia-telegram"
    failure = await pulling.failure()
    assert isinstance(failure, SourceError)
    assert "409" in str(failure) and "webhook is active" in str(failure)


async def test_a_wrong_token_is_a_clear_error_without_the_token(
    fake: FakeTelegram,
    server: TestServer,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.token = "7012345678:AAAnotTheRightTokenAtAllxxxxxxxxxxx"
    failure = await Reader(poller(server, session)).failure()
    assert isinstance(failure, SourceError)
    assert "refused the bot token (401 Unauthorized)" in str(failure)
    assert TOKEN not in str(failure)
    assert TOKEN not in caplog.text


async def test_an_unreachable_bot_api_is_a_clear_error_without_the_token(
    session: aiohttp.ClientSession,
) -> None:
    settings = {"bot_token": TOKEN, "api_url": "http://127.0.0.1:9"}
    plugin = plugin_instance(TelegramPollPlugin, settings, session=session)
    failure = await Reader(plugin).failure()
    assert isinstance(failure, SourceError)
    assert str(failure).startswith("cannot reach the Telegram Bot API: cannot connect")
    assert TOKEN not in str(failure)
    assert failure.__cause__ is None and failure.__suppress_context__


def test_settings() -> None:
    settings = TelegramPollSettings(bot_token=TOKEN)
    assert settings.api_url == "https://api.telegram.org"
    assert TOKEN not in repr(settings)
    for bad in ("", "12345", "not:a-token", TOKEN + " "):
        with pytest.raises(pydantic.ValidationError, match="bot_token") as refused:
            TelegramPollSettings(bot_token=bad)
        # As Guardian shows a settings error (guardian check, the dashboard): without the value.
        assert TOKEN not in str(format_validation_errors(refused.value))


async def test_an_unreadable_update_is_skipped_and_the_rest_read(
    fake: FakeTelegram,
    server: TestServer,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = {"update_id": 500, "message": {"message_id": 1, "text": "no chat, no date"}}
    fake.send(broken, update("private_text.json", 501))
    pulling = Reader(poller(server, session), "500")
    try:
        [batch] = await pulling.wait_for(1)
    finally:
        await pulling.stop()
    assert [m.external_id for m in batch.messages] == ["501"]
    assert batch.cursor == "502"
    assert "update 500 is not readable" in caplog.text
    assert "no chat, no date" not in caplog.text  # what people wrote stays out of the logs


# --- the pull conformance suite, against the fake Bot API ---------------------------------------


class TelegramNetwork:
    """Mia's bot on a fake Bot API of its own; `fail` makes it refuse the token (401, as
    "Making requests" says a wrong token is answered)."""

    def __init__(self) -> None:
        self.fake = FakeTelegram()
        self.server = TestServer(self.fake.app())
        self.settings: dict[str, Any] = {}
        self.next_id = 900_000

    async def __aenter__(self) -> TelegramNetwork:
        await self.server.start_server()
        self.settings = {"bot_token": TOKEN, "api_url": str(self.server.make_url("")).rstrip("/")}
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.close()

    async def send(self, key: str) -> None:
        self.next_id += 1
        sent = update("private_text.json", self.next_id)
        sent["message"]["message_id"] = self.next_id
        sent["message"]["text"] = f"are you awake? {key}"
        self.fake.send(sent)

    async def fail(self) -> None:
        self.fake.token = "7012345678:AAAnotTheRightTokenAtAllxxxxxxxxxxx"

    async def recover(self) -> None:
        self.fake.token = TOKEN


@pytest.fixture
def telegram_case() -> PullCase:
    return PullCase(TelegramPollPlugin, network=TelegramNetwork, secrets=[TOKEN])


test_pull_conformance = pull_conformance_tests("telegram_case")
