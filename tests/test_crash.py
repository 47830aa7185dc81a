"""`guardian serve` killed with SIGKILL while clients post loses nothing it answered 202."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from contextlib import closing
from pathlib import Path

import aiohttp

from tests.conftest import TOKEN, message, settings_toml
from tests.serve import start_serve

CLIENTS = 16


async def post_until_dead(base: str, worker: int, answered: set[str]) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as session:
        for n in range(100_000):
            msg_id = f"w{worker}-{n}"
            try:
                async with session.post(
                    f"{base}/hooks/mia-bridge", json=message(msg_id), headers=headers
                ) as response:
                    if response.status == 202:
                        answered.add(f"msg-{msg_id}")
            except (TimeoutError, aiohttp.ClientError):
                return


async def test_sigkill_during_ingest_loses_nothing_answered_202(tmp_path: Path) -> None:
    db = tmp_path / "guardian.db"
    config = tmp_path / "settings.toml"
    config.write_text(settings_toml(db))
    port = int(
        next(
            line.split("=")[1]
            for line in config.read_text().splitlines()
            if line.startswith("port")
        )
    )
    serve = await start_serve(config, port, tmp_path / "serve.log", level="WARNING")
    process, base = serve.process, serve.base
    answered: set[str] = set()
    clients = [asyncio.create_task(post_until_dead(base, w, answered)) for w in range(CLIENTS)]
    try:
        async with asyncio.timeout(30):
            while len(answered) < 500:
                await asyncio.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        await process.wait()
        await asyncio.wait_for(asyncio.gather(*clients), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    # A fresh start recovers the database; everything answered 202 is there.
    serve = await start_serve(config, port, tmp_path / "serve.log", level="WARNING")
    try:
        with closing(sqlite3.connect(db)) as connection:
            stored = {row[0] for row in connection.execute("SELECT external_id FROM notifications")}
        assert len(answered) >= 500
        assert answered <= stored, f"lost {len(answered - stored)} of {len(answered)}"
    finally:
        # Stopping while it sends the backlog: it once hung here (tests/test_transactions.py).
        assert await serve.sigterm() == 0
