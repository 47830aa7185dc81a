"""Nothing stops silently: a background task that fails is logged once, restarted with backoff,
and named by /readyz while it is down; the scheduler's jobs fail alone."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import pytest
from tortoise import connections

from guardian.clock import VirtualClock
from guardian.models import Delivery
from guardian.settings import Settings
from guardian.supervise import Supervisor
from tests.conftest import Running, at, message

NIGHT = at("2026-11-25T23:00:00+01:00")
Start = Callable[[Settings, datetime], Awaitable[Running]]


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_failing_task_is_logged_once_per_failure_and_restarted_with_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock(NIGHT)
    supervisor = Supervisor(clock)
    runs: list[datetime] = []
    healthy = asyncio.Event()

    async def flaky() -> None:
        runs.append(clock.now())
        if len(runs) <= 3:
            raise RuntimeError(f"failure {len(runs)}")
        healthy.set()
        await asyncio.Event().wait()

    with caplog.at_level(logging.INFO, "guardian.supervise"):
        supervisor.start("flaky", flaky)
        await settle()
        assert supervisor.health()["flaky"].startswith("failed: RuntimeError: failure 1")
        assert supervisor.down() == ["flaky"]
        for _ in range(3):
            state = supervisor.tasks["flaky"]
            assert state.restart_at is not None
            await clock.set(state.restart_at)
            await settle()
        await asyncio.wait_for(healthy.wait(), 1)
    assert supervisor.health() == {"flaky": "running"}
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == ["background task flaky failed"] * 3
    assert all(r.exc_info for r in errors)  # with the traceback
    gaps = [later - earlier for earlier, later in itertools.pairwise(runs)]
    assert gaps[0] <= timedelta(seconds=1) < gaps[2] <= timedelta(seconds=4)  # it backs off
    await supervisor.stop()
    assert supervisor.down() == ["flaky"]


async def test_readyz_names_a_task_that_is_down(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    running = await start_guardian(write_settings(), NIGHT)
    ready = await running.client.get("/readyz")
    assert ready.status == 200
    checks = (await ready.json())["checks"]
    assert {checks[n] for n in ("writer", "scheduler", "deliverer", "follower")} == {"running"}

    async def broken() -> None:
        raise OSError("the disk is gone")

    supervisor = running.service.supervisor
    assert supervisor is not None
    supervisor.start("pull:mia-mail", broken)
    await settle()
    answer = await running.client.get("/readyz")
    assert answer.status == 503
    body = await answer.json()
    assert body["status"] == "not ready"
    assert body["checks"]["pull:mia-mail"].startswith("failed: OSError: the disk is gone")


async def test_one_members_failing_summary_stops_no_other(
    write_settings: Callable[..., Settings],
    start_guardian: Start,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = write_settings()
    members = [  # Sam follows Mia's school nights too: both have a summary due at 07:00
        m.model_copy(update={"policy": "school-night"}) if m.id == "sam" else m
        for m in settings.members
    ]
    running = await start_guardian(settings.model_copy(update={"members": members}), NIGHT)
    assert (await running.post(message("for-sam", to="sam"), source="family-sms")).status == 202
    assert (await running.post(message("for-mia"))).status == 202
    # A row that cannot be read (written by a broken tool, say) makes Mia's summary fail.
    await connections.get("default").execute_query(
        "UPDATE notifications SET received_at = '2000-99-99 not a time' "
        "WHERE external_id = 'msg-for-mia'"
    )
    morning = at("2026-11-26T07:00:00+01:00")
    with caplog.at_level(logging.ERROR):
        await running.tick_at(morning)
        await running.tick_at(morning + timedelta(minutes=1))
    scheduler = running.service.scheduler
    assert scheduler is not None
    assert list(scheduler.failing) == ["summary for mia"]
    logged = [r for r in caplog.records if "summary for mia failed" in r.getMessage()]
    assert len(logged) == 1  # once, not on every tick
    assert logged[0].exc_info
    ready = await (await running.client.get("/readyz")).json()
    assert "summary for mia" in ready["checks"]["failing_jobs"]
    # Sam's summary went out all the same, and the timer goes on.
    [summary] = await Delivery.filter(kind="summary")
    assert summary.member_id == running.service.household().members["sam"].pk
    assert scheduler.last_tick == morning + timedelta(minutes=1)


async def test_a_task_that_ignores_its_cancellation_cannot_hang_the_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stopping waits a grace for each cancelled task; one that does not end (a library that
    swallowed the cancellation, a lock that is never released) is named in the log with the
    awaits it is stuck in, and the shutdown goes on."""
    supervisor = Supervisor(VirtualClock(NIGHT))
    ignored = asyncio.Event()

    async def deaf_to_one_cancel() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            ignored.set()
        await stuck_here()

    async def stuck_here() -> None:
        await asyncio.sleep(3600)

    state = supervisor.start("deaf", deaf_to_one_cancel)
    await settle()
    loop = asyncio.get_running_loop()
    began = loop.time()
    with caplog.at_level(logging.ERROR, "guardian.supervise"):
        await supervisor.stop(grace=timedelta(seconds=0.2))
    assert loop.time() - began < 2
    assert ignored.is_set()
    [error] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert error.startswith("background task deaf did not stop within")
    assert "in stuck_here" in error  # where it waits, not only that it does
    assert state.task is not None and not state.task.done()
    state.task.cancel()  # the second cancellation it heeds
    await asyncio.gather(state.task, return_exceptions=True)
