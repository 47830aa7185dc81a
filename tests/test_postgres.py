"""Guardian on a real PostgreSQL: the in-process app on a virtual clock, and three real
`guardian serve` processes sharing one database, one of them killed with SIGKILL, while a quiet
window ends on the real clock: exactly one summary, nothing answered 202 lost or stored twice."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg  # type: ignore[import-untyped]

from guardian.database import asyncpg_dsn
from guardian.models import Delivery, Notification, Schedule
from guardian.plugin import PluginRegistry
from guardian.settings import Settings, load_settings
from tests.conftest import (
    AMSTERDAM,
    TOKEN,
    Receiver,
    Running,
    at,
    free_port,
    message,
    settings_toml,
)
from tests.pg import Cluster

WEDNESDAY_NIGHT = at("2026-11-25T23:00:00+01:00")
THURSDAY_MORNING = at("2026-11-26T07:00:00+01:00")
Start = Callable[[Settings, datetime], Awaitable[Running]]
SCHOOL_NIGHT = 'quiet = [{ days = "mon-thu,sun", start = "21:30", end = "07:00" }]'


def pg_settings_text(db_url: str, tmp_path: Path, channels: list[str], quiet: str = "") -> str:
    placeholder = tmp_path / "unused.db"
    text = settings_toml(placeholder, mia_channels=channels)
    text = text.replace(f'url = "sqlite://{placeholder}"', f'url = "{db_url}"')
    assert db_url in text
    if quiet:
        assert SCHOOL_NIGHT in text
        text = text.replace(SCHOOL_NIGHT, quiet)
    return text


def load(text: str, path: Path) -> Settings:
    path.write_text(text)
    return load_settings(path, PluginRegistry.discover().settings_models())


async def test_the_app_on_postgresql_holds_and_sends_one_summary(
    postgres: Cluster, tmp_path: Path, start_guardian: Start, receiver: Receiver
) -> None:
    start = start_guardian
    url = postgres.create_database()
    settings = load(pg_settings_text(url, tmp_path, [receiver.channel("mia")]), tmp_path / "a.toml")
    guardian = await start(settings, WEDNESDAY_NIGHT)
    for n in range(12):
        await guardian.clock.set(WEDNESDAY_NIGHT + timedelta(minutes=n))
        assert (await guardian.post(message(n))).status == 202
    again = await guardian.post(message(3))
    assert again.status == 202
    assert (await again.json())["duplicates"] == 1
    assert await Notification.filter(status="held").count() == 12

    await guardian.tick_at(THURSDAY_MORNING)
    [summary] = await receiver.wait_for(1)
    assert summary["title"].startswith("While you were away: 12 messages")
    await guardian.client.close()

    # A second start on the same database: migrations and the seed are no-ops, nothing is
    # sent again, the schedule has moved on.
    later = await start(settings, THURSDAY_MORNING + timedelta(minutes=5))
    await later.tick_at(THURSDAY_MORNING + timedelta(minutes=10))
    await asyncio.sleep(0.3)
    assert len(receiver.received) == 1
    assert await Notification.filter(status="summarised").count() == 12
    assert await Delivery.filter(kind="summary", status="sent").count() == 1
    schedule = await Schedule.get(kind="summary", member__slug="mia")
    assert schedule.next_due_at == at("2026-11-27T07:00:00+01:00")  # Thursday night's end
    await later.client.close()


# --- three real processes on one database --------------------------------------------------

INSTANCES = 3
WORKERS_PER_INSTANCE = 4
#: Time for three processes to start and for the posting, before the quiet window ends.
MARGIN = timedelta(seconds=15)


async def start_serve(config: Path, port: int, log: Path) -> asyncio.subprocess.Process:
    with log.open("wb") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "guardian",
            "serve",
            "--config",
            str(config),
            "--log-level",
            "WARNING",
            cwd=config.parent,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )


async def wait_ready(process: asyncio.subprocess.Process, base: str, log: Path) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        return
            if process.returncode is not None:
                raise AssertionError(f"{base} exited: {log.read_text()}")
            await asyncio.sleep(0.05)
    raise AssertionError(f"{base} did not become ready: {log.read_text()}")


async def post_until(
    base: str, prefix: str, answered: set[str], stop: asyncio.Event, delay: float
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        n = 0
        while not stop.is_set():
            msg_id = f"{prefix}-{n}"
            try:
                async with session.post(
                    f"{base}/hooks/mia-bridge", json=message(msg_id), headers=headers
                ) as response:
                    if response.status == 202:
                        answered.add(f"msg-{msg_id}")
            except (TimeoutError, aiohttp.ClientError):
                return  # the instance is gone
            n += 1
            await asyncio.sleep(delay)


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path, text: str, ports: list[int]
) -> AsyncIterator[tuple[list[asyncio.subprocess.Process], list[Path]]]:
    """Start one `guardian serve` per port at once (they migrate and seed concurrently)."""
    processes: list[asyncio.subprocess.Process] = []
    logs: list[Path] = []
    try:
        for i, port in enumerate(ports):
            config = tmp_path / f"instance-{i}" / "settings.toml"
            config.parent.mkdir()
            config.write_text(text.replace(f"port = {ports[0]}\n", f"port = {port}\n", 1))
            logs.append(config.parent / "stderr.log")
            processes.append(await start_serve(config, port, logs[-1]))
        await asyncio.gather(
            *(
                wait_ready(p, f"http://127.0.0.1:{port}", log)
                for p, port, log in zip(processes, ports, logs, strict=True)
            )
        )
        yield processes, logs
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def test_three_instances_on_one_postgresql_send_one_summary_and_lose_nothing(
    postgres: Cluster, tmp_path: Path, receiver: Receiver
) -> None:
    started = time.monotonic()
    zone = ZoneInfo(AMSTERDAM)
    local = datetime.now(zone)
    # The quiet window ends at the first whole minute at least MARGIN from now (real clock).
    end = (local + MARGIN).replace(second=0, microsecond=0) + timedelta(minutes=1)
    begin = end - timedelta(hours=2)
    quiet = f'quiet = [{{ days = "daily", start = "{begin:%H:%M}", end = "{end:%H:%M}" }}]'
    url = postgres.create_database()
    text = pg_settings_text(url, tmp_path, [receiver.channel("mia")], quiet)
    first_port = int(next(line for line in text.splitlines() if line.startswith("port"))[7:])
    ports = [first_port]
    while len(ports) < INSTANCES:
        if (port := free_port()) not in ports:
            ports.append(port)
    bases = [f"http://127.0.0.1:{port}" for port in ports]

    async with asyncio.timeout(90), serving(tmp_path, text, ports) as (processes, logs):
        ready = datetime.now(zone)
        posting_ends = end - timedelta(seconds=4)
        assert ready < posting_ends - timedelta(seconds=1), (
            f"the instances took {time.monotonic() - started:.1f} s to start: "
            f"too slow for a quiet window ending at {end:%H:%M:%S}"
        )
        kill_at = ready + (posting_ends - ready) / 2
        answered: set[str] = set()
        # A network retrying one message through each instance: stored once, a duplicate twice.
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            replies = await asyncio.gather(
                *(http.post(f"{base}/hooks/mia-bridge", json=message("retried")) for base in bases)
            )
            results = [(r.status, await r.json()) for r in replies]
        assert all(status == 202 for status, _ in results), results
        assert sorted(body["duplicates"] for _, body in results) == [0, 1, 1], results
        answered.add("msg-retried")
        stop = asyncio.Event()
        workers = [
            asyncio.create_task(post_until(base, f"i{i}-w{w}", answered, stop, 0.01))
            for i, base in enumerate(bases)
            for w in range(WORKERS_PER_INSTANCE)
        ]
        # Mid-way through the posting, one instance dies without warning.
        while len(answered) < 150 and datetime.now(zone) < kill_at:
            await asyncio.sleep(0.01)
        killed_after = len(answered)
        victim = processes[2]
        os.kill(victim.pid, signal.SIGKILL)
        await victim.wait()
        while len(answered) < 400 and datetime.now(zone) < posting_ends:
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.gather(*workers)
        assert datetime.now(zone) < end, "posting ran into the end of the quiet window"
        assert receiver.received == []  # all held: nothing is pushed in quiet hours
        assert killed_after > 1 and len(answered) > killed_after, (killed_after, len(answered))

        # The window ends while two instances run: each one's scheduler wakes for it.
        wait = (end - datetime.now(zone)).total_seconds() + 20
        [summary] = await receiver.wait_for(1, timeout=wait)
        await asyncio.sleep(3)  # a second summary from the other instance would arrive by now
        assert len(receiver.received) == 1, [r["title"] for r in receiver.received]

        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            rows = await connection.fetch("SELECT external_id, status FROM notifications")
            summaries = await connection.fetch(
                "SELECT status FROM deliveries WHERE kind = 'summary'"
            )
        finally:
            await connection.close()
        stored = [row["external_id"] for row in rows]
        assert len(stored) == len(set(stored)), "a notification was stored twice"
        assert answered <= set(stored), f"lost {len(answered - set(stored))} of {len(answered)}"
        assert {row["status"] for row in rows} == {"summarised"}
        assert [row["status"] for row in summaries] == ["sent"]
        assert summary["title"].startswith(f"While you were away: {len(stored)} messages"), (
            summary["title"],
            len(stored),
        )

        # The survivors shut down cleanly.
        for process in processes[:2]:
            process.send_signal(signal.SIGTERM)
        for process, log in zip(processes[:2], logs[:2], strict=True):
            assert await asyncio.wait_for(process.wait(), 30) == 0, log.read_text()
    print(f"three-instance test took {time.monotonic() - started:.1f} s")
