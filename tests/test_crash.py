"""`guardian serve` killed with SIGKILL while clients post loses nothing it answered 202."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

import aiohttp

from tests.conftest import TOKEN, message, settings_toml

CLIENTS = 16


async def start_serve(config: Path, cwd: Path) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "guardian",
        "serve",
        "--config",
        str(config),
        "--log-level",
        "WARNING",
        cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    port = next(
        line.split("=", 1)[1].strip()
        for line in config.read_text().splitlines()
        if line.startswith("port")
    )
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        return process, base
            except aiohttp.ClientError:
                pass
            if process.returncode is not None:
                raise AssertionError(await process.stderr.read() if process.stderr else b"")
            await asyncio.sleep(0.05)
    raise AssertionError("guardian serve did not become ready")


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
    process, base = await start_serve(config, tmp_path)
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
    process, base = await start_serve(config, tmp_path)
    try:
        with sqlite3.connect(db) as connection:
            stored = {row[0] for row in connection.execute("SELECT external_id FROM notifications")}
        assert len(answered) >= 500
        assert answered <= stored, f"lost {len(answered - stored)} of {len(answered)}"
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
