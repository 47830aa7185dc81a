"""Crash benchmark: `kill -9` of `guardian serve` under load, again and again, then counts.

    .venv/bin/python benchmarks/crash.py [--cycles N] [--connections C]

One `guardian serve` on a fresh SQLite database in a temporary directory, restarted after each
of N (default 5) `kill -9`s. While each process runs, C connections (default 8) post webhook
messages, each with a unique id, until the kill cuts them off. The sender is a muted contact,
so every message is held for the member's summary, and the member's quiet hours end (a whole
minute, in UTC) during the run: that summary falls due while processes are being killed and
restarted. Its channel is a local aiohttp receiver (this process) that answers after a short
delay, so a kill can land while it is being sent. After the last cycle a final process runs
until the summary is out, then stops with SIGTERM.

Printed: notifications posted, answered 202, stored, lost (answered 202, not stored: must be 0),
summaries built and received, in-flight repeats (a kill landed while the summary was being sent:
by design it may be sent once more), and summaries duplicated (must be 0): a second summary
built for the window end, or the receiver getting it more often than built plus allowed
repeats. Held notifications left out of the summary must be 0 too. The exit status is 1 if
anything that must be 0 is not, or the summary never arrived.

A run takes about 20-80 s: it lasts until the quiet window ends at the next whole minute
(at least 12 s ahead), plus the final catch-up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from guardian.testing import settings_text

TOKEN = "crash-bench-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Receiver:
    delay: float
    summaries: list[dict[str, Any]] = field(default_factory=list)
    others: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        if request.match_info["path"] == "mia":
            self.summaries.append(body)  # counted on arrival: an answer may never be read
        else:
            self.others += 1
        await asyncio.sleep(self.delay)
        return web.Response(text="ok")


def settings(db: Path, port: int, channel: str, window_end: datetime) -> str:
    start = (window_end - timedelta(hours=3)).strftime("%H:%M")
    end = window_end.strftime("%H:%M")
    return settings_text(
        {
            "server": {"port": port, "shutdown_timeout": "5s"},
            "database": {"url": f"sqlite://{db}"},
            "delivery": {
                "backoff": "1s",
                "timeout": "2s",
                "start_delay": "0s",
                "claim_lease": "3s",
            },
            "household": {"name": "Crash benchmark", "timezone": "UTC"},
            "members": [
                {
                    "id": "mia",
                    "name": "Mia",
                    "role": "child",
                    "policy": "nights",
                    "channels": [channel],
                }
            ],
            "contacts": [
                {
                    "id": "sophie",
                    "name": "Sophie",
                    "addresses": ["sms:+31612345678"],
                    "trust": "muted",
                }
            ],
            "policies": {
                "nights": {
                    "quiet": [{"days": "daily", "start": start, "end": end}],
                    "content": "counts",
                }
            },
            "sources": [{"id": "phone", "plugin": "webhook", "member": "mia", "token": TOKEN}],
        }
    )


async def start_serve(config: Path, base: str, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as err:
        process = await asyncio.create_subprocess_exec(
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
            stderr=err,
        )
    async with aiohttp.ClientSession() as session:
        for _ in range(400):
            try:
                async with session.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        return process
            except aiohttp.ClientError:
                pass
            if process.returncode is not None:
                break
            await asyncio.sleep(0.05)
    if process.returncode is None:
        process.kill()
        await process.wait()
    raise SystemExit(f"guardian serve did not start; its log: {log}")


@dataclass
class Load:
    posted: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)


async def post_until_dead(base: str, tag: str, load: Load) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for n in range(1_000_000):
            external = f"{tag}-{n}"
            body = {
                "id": external,
                "network": "sms",
                "from": {"id": "+31612345678", "name": "Sophie"},
                "text": "are you awake?",
            }
            load.posted.add(external)
            try:
                async with session.post(f"{base}/hooks/phone", json=body) as response:
                    await response.read()
                    if response.status == 202:
                        load.answered.add(external)
            except (TimeoutError, aiohttp.ClientError):
                return


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db, timeout=10) as connection:
        return list(connection.execute(sql, params))


async def run(cycles: int, connections: int, delay: float) -> int:
    receiver = Receiver(delay)
    app = web.Application()
    app.router.add_post("/{path:.*}", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    receiver_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", receiver_port).start()

    now = datetime.now(UTC)
    window_end = (now + timedelta(seconds=12 + 59)).replace(second=0, microsecond=0)
    tmp = Path(tempfile.mkdtemp(prefix="guardian-crash-"))
    db, config, log = tmp / "guardian.db", tmp / "settings.toml", tmp / "serve.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config.write_text(
        settings(db, port, f"json://127.0.0.1:{receiver_port}/mia", window_end),
    )
    load = Load()
    in_flight_repeats = 0
    started = time.monotonic()
    # Spread the kills so that the last process is killed a few seconds after the window end.
    per_cycle = max(3.0, ((window_end - now).total_seconds() + 4) / cycles)
    print(
        f"{cycles} cycles of ~{per_cycle:.1f} s, {connections} connections; quiet hours end "
        f"at {window_end:%H:%M:%S} UTC (in {(window_end - now).total_seconds():.0f} s); {tmp}",
        flush=True,
    )
    exit_code: int | None = None
    try:
        for cycle in range(cycles):
            process = await start_serve(config, base, log)
            clients = [
                asyncio.create_task(post_until_dead(base, f"c{cycle}w{w}", load))
                for w in range(connections)
            ]
            await asyncio.sleep(per_cycle * random.uniform(0.6, 1.0))
            os.kill(process.pid, signal.SIGKILL)
            await process.wait()
            await asyncio.wait_for(asyncio.gather(*clients), 30)
            sending = query(
                db, "SELECT count(*) FROM deliveries WHERE kind = 'summary' AND status = 'sending'"
            )[0][0]
            in_flight_repeats += sending
            print(
                f"  cycle {cycle + 1}: killed after {time.monotonic() - started:5.1f} s, "
                f"{len(load.answered)} answered 202 so far"
                + (", a summary was in flight" if sending else ""),
                flush=True,
            )
        # The last process: catch-up sends what is due; then a clean stop.
        process = await start_serve(config, base, log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            due_passed = datetime.now(UTC) > window_end + timedelta(seconds=2)
            unsent = query(
                db, "SELECT count(*) FROM deliveries WHERE kind = 'summary' AND status != 'sent'"
            )[0][0]
            built = query(db, "SELECT count(*) FROM deliveries WHERE kind = 'summary'")[0][0]
            if due_passed and built and not unsent:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(delay + 0.5)  # a repeat, if one were coming, would arrive now
        process.send_signal(signal.SIGTERM)
        exit_code = await asyncio.wait_for(process.wait(), 30)
    finally:
        await runner.cleanup()

    stored_ids = {row[0] for row in query(db, "SELECT external_id FROM notifications")}
    summary_rows = query(db, "SELECT dedup_key, status FROM deliveries WHERE kind = 'summary'")
    covered_until = window_end.isoformat(sep=" ")
    left_out = query(
        db,
        "SELECT count(*) FROM notifications WHERE status = 'held' AND received_at <= ?",
        covered_until,
    )[0][0]
    lost = len(load.answered - stored_ids)
    received = len(receiver.summaries)
    extra_at_receiver = max(0, received - len(summary_rows) - in_flight_repeats)
    # One window end falls in the run: a second summary row would be a summary built twice.
    duplicated = max(0, len(summary_rows) - 1) + extra_at_receiver
    sent = all(status == "sent" for _, status in summary_rows) and summary_rows
    print(f"notifications posted:        {len(load.posted)}")
    print(f"answered 202:                {len(load.answered)}")
    print(f"stored:                      {len(stored_ids & load.posted)}")
    print(f"lost:                        {lost}")
    print(f"summaries built:             {len(summary_rows)}")
    print(f"summaries received:          {received}")
    print(f"in-flight repeats allowed:   {in_flight_repeats}")
    print(f"summaries duplicated:        {duplicated}")
    print(f"held left out of summary:    {left_out}")
    print(f"final exit code (SIGTERM):   {exit_code}")
    print(f"elapsed:                     {time.monotonic() - started:.1f} s")
    if receiver.summaries:
        print(f"summary: {receiver.summaries[0].get('title')}")
    failed = lost or duplicated or left_out or not sent or not received or exit_code != 0
    if failed:
        print(f"FAILED (database and log kept in {tmp})", file=sys.stderr)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cycles", type=int, default=5, help="kill -9 and restart cycles")
    parser.add_argument("--connections", type=int, default=8, help="concurrent posting clients")
    parser.add_argument(
        "--receiver-delay", type=float, default=0.3, help="seconds the channel takes to answer"
    )
    args = parser.parse_args()
    return asyncio.run(run(args.cycles, args.connections, args.receiver_delay))


if __name__ == "__main__":
    sys.exit(main())
