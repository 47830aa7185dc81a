"""Running `python -m guardian serve` as a real process, for the tests that kill or stop it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp


@dataclass
class Serve:
    process: asyncio.subprocess.Process
    base: str
    log: Path

    async def sigterm(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            # Ask the process for every thread's stack (serve registers SIGUSR1 with
            # faulthandler), then fail with the end of its log: where it hangs, not just that.
            self.process.send_signal(signal.SIGUSR1)
            await asyncio.sleep(1)
            tail = "\n".join(self.log.read_text().splitlines()[-80:])
            raise AssertionError(f"serve did not exit {timeout}s after SIGTERM:\n{tail}") from None

    async def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        await self.process.wait()


async def start_serve(
    config: Path, port: int, log: Path, *, level: str = "INFO", env: dict[str, str] | None = None
) -> Serve:
    """Start `python -m guardian serve`, its log appended to `log`; return once /readyz is 200."""
    with log.open("ab") as err:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "guardian",
            "serve",
            "--config",
            str(config),
            "--log-level",
            level,
            cwd=config.parent,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, **(env or {})},
        )
    serve = Serve(process, f"http://127.0.0.1:{port}", log)
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(f"{serve.base}/readyz") as response:
                    if response.status == 200:
                        return serve
            except aiohttp.ClientError:
                pass
            if process.returncode is not None:
                raise AssertionError(log.read_text())
            await asyncio.sleep(0.05)
    process.kill()
    await process.wait()
    raise AssertionError(f"guardian serve did not become ready:\n{log.read_text()}")


@asynccontextmanager
async def stopped_at_end(serves: list[Serve]) -> AsyncIterator[None]:
    """Whatever happens in the test, no serve process outlives it."""
    try:
        yield
    finally:
        for serve in serves:
            if serve.process.returncode is None:
                serve.process.kill()
                await serve.process.wait()
