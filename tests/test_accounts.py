"""The login limiter and password hashing, on their own: attempts counted before the check,
memory bounded without forgetting everyone at once, hashes computed off the event loop."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from guardian.accounts import LoginLimiter, PasswordHashing
from tests.conftest import at

NOW = at("2026-11-25T20:00:00+01:00")
KEYS = ("address:203.0.113.5", "user:sam")


def test_an_attempt_counts_when_it_is_taken() -> None:
    limiter = LoginLimiter(attempts=3)
    # Three logins start before any of them is checked: the fourth is refused at once.
    assert [limiter.take(KEYS, NOW) for _ in range(4)] == [0, 0, 0, 15 * 60]
    assert limiter.retry_after(KEYS, NOW + timedelta(minutes=5)) == 10 * 60
    assert limiter.take(KEYS, NOW + timedelta(minutes=15)) == 0  # the window has passed


def test_the_limit_is_per_username_and_per_address() -> None:
    limiter = LoginLimiter(attempts=2)
    for _ in range(2):
        assert limiter.take(("address:a", "user:sam"), NOW) == 0
    assert limiter.take(("address:b", "user:sam"), NOW) > 0  # the username is used up
    assert limiter.take(("address:a", "user:anna"), NOW) > 0  # and so is the address
    assert limiter.take(("address:b", "user:anna"), NOW) == 0


def test_a_success_gives_its_attempt_back_and_forgets_the_users_failures() -> None:
    limiter = LoginLimiter(attempts=3)
    for _ in range(2):
        limiter.take(KEYS, NOW)  # two wrong passwords
    limiter.take(KEYS, NOW)
    limiter.succeeded(KEYS, NOW, forget="user:sam")  # the third was right
    assert limiter.retry_after(("user:sam",), NOW) == 0
    # The address keeps its two failures: one more attempt, then it waits.
    assert limiter.take(("address:203.0.113.5", "user:anna"), NOW) == 0
    assert limiter.take(("address:203.0.113.5", "user:anna"), NOW) > 0


def test_memory_is_bounded_by_forgetting_the_oldest_keys_one_at_a_time() -> None:
    limiter = LoginLimiter(attempts=2, max_keys=4)
    for _ in range(2):
        limiter.take(("address:locked",), NOW)
    for n in range(3):
        limiter.take((f"user:spray-{n}",), NOW + timedelta(seconds=n + 1))
    # Four keys: the locked address is still locked.
    assert limiter.retry_after(("address:locked",), NOW + timedelta(seconds=5)) > 0
    for n in range(3, 20):
        limiter.take((f"user:spray-{n}",), NOW + timedelta(seconds=n + 1))
        remembered = [f"user:spray-{k}" for k in range(max(0, n - 3), n + 1)]
        # Never more than four keys, and never fewer: the newest four are all still there.
        assert list(limiter._tries) == remembered
    assert limiter.retry_after(("address:locked",), NOW + timedelta(seconds=30)) == 0


async def test_hashing_runs_in_a_worker_thread_a_bounded_number_at_a_time() -> None:
    hashing = PasswordHashing(concurrency=1)
    ticks = 0

    async def loop_keeps_running() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    ticker = asyncio.create_task(loop_keeps_running())
    started = time.perf_counter()
    hashes = await asyncio.gather(*(hashing.hash(f"password {n}") for n in range(3)))
    took = time.perf_counter() - started
    ticker.cancel()
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert await hashing.verify(hashes[0], "password 0")
    assert not await hashing.verify(hashes[0], "password 1")
    assert not await hashing.verify(None, "anything")  # no such user: a check all the same
    # The loop ticked all along (about every 5 ms) while three hashes ran one after another.
    assert ticks >= took / 0.005 / 3, (ticks, took)
