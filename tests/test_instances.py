"""Decisions are household facts: three real `guardian serve` processes on one PostgreSQL decide
exactly as one instance would, also when one sender's messages reach all of them at the same
moment (PRODUCT.md's non-negotiables). The sender state they decide on is the database's."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg  # type: ignore[import-untyped]

from guardian.accounts import digest
from guardian.database import asyncpg_dsn
from guardian.signatures import signed_headers
from tests.conftest import SECRET, TOKEN, free_port, message, settings_toml
from tests.pg import Cluster
from tests.test_postgres import serving

INSTANCES = 3


def household(url: str, tmp_path: Path) -> tuple[str, list[int]]:
    """The test household on `url`; Mia is never in quiet hours during the test (a window far
    from now), Sam always is; bursts and repeated contact set tight."""
    now = datetime.now(UTC)
    away = (now + timedelta(hours=8)).strftime("%H:%M")
    away_end = (now + timedelta(hours=9)).strftime("%H:%M")
    here = (now - timedelta(hours=2)).strftime("%H:%M")
    here_end = (now + timedelta(hours=2)).strftime("%H:%M")
    text = settings_toml(tmp_path / "unused.db")
    text = text.replace(f'url = "sqlite://{tmp_path / "unused.db"}"', f'url = "{url}"')
    text = text.replace('timezone = "Europe/Amsterdam"', 'timezone = "UTC"')
    text = text.replace(
        'quiet = [{ days = "mon-thu,sun", start = "21:30", end = "07:00" }]',
        f'quiet = [{{ days = "daily", start = "{away}", end = "{away_end}" }}]\n'
        'burst = { limit = 3, per = "10m", notice_every = "15m" }',
    )
    text = text.replace('role = "guardian"\n', 'role = "guardian"\npolicy = "night"\n', 1)
    text += (
        "\n[policies.night]\n"
        f'quiet = [{{ days = "daily", start = "{here}", end = "{here_end}" }}]\n'
        'breakthrough = { repeated = { count = 3, within = "5m" } }\n'
    )
    ports = [free_port() for _ in range(INSTANCES)]
    first = next(line for line in text.splitlines() if line.startswith("port"))
    return text.replace(first, f"port = {ports[0]}", 1), ports


async def add_token(url: str, token: str) -> None:
    """A dashboard login for Sam with an API token, written as `guardian user add` would."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        user = await connection.fetchval(
            "INSERT INTO users (household_id, username, password_hash, created_at) "
            "VALUES ('home', 'sam', 'x', now()) RETURNING id"
        )
        await connection.execute(
            "INSERT INTO api_tokens (user_id, name, token_hash, created_at) "
            "VALUES ($1, 'test', $2, now())",
            user,
            digest(token),
        )
    finally:
        await connection.close()


async def fetch(url: str, sql: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return list(await connection.fetch(sql))
    finally:
        await connection.close()


async def test_three_instances_decide_bursts_and_repeated_contact_as_one(
    postgres: Cluster, tmp_path: Path
) -> None:
    url = postgres.create_database()
    text, ports = household(url, tmp_path)
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    async with asyncio.timeout(90), serving(tmp_path, text, ports) as (processes, _):
        async with aiohttp.ClientSession() as http:

            async def post(base: str, source: str, body: object) -> int:
                raw = json.dumps(body).encode()
                if source == "mia-bridge":
                    headers = {"Authorization": f"Bearer {TOKEN}"}
                else:
                    headers = signed_headers(SECRET, f"wh-{id(body)}", datetime.now(UTC), raw)
                headers["Content-Type"] = "application/json"
                async with http.post(f"{base}/hooks/{source}", data=raw, headers=headers) as r:
                    return r.status

            # Six messages from Sophie to Mia, two through each instance, all at once:
            # `limit = 3` lets exactly three through, whichever instance takes which.
            statuses = await asyncio.gather(
                *(post(bases[n % INSTANCES], "mia-bridge", message(f"b{n}")) for n in range(6))
            )
            assert statuses == [202] * 6
            # Three from an unknown number to Sam in his quiet hours, one through each
            # instance at once: the third breaks through (repeated contact), exactly once.
            caller = {"from": {"id": "+31611112222", "name": "Unknown"}, "to": "sam"}
            statuses = await asyncio.gather(
                *(
                    post(base, "family-sms", message(f"r{n}", **caller))
                    for n, base in enumerate(bases)
                )
            )
            assert statuses == [202] * 3
            # A network's retry of one of them through every instance changes nothing.
            statuses = await asyncio.gather(
                *(post(base, "family-sms", message("r0", **caller)) for base in bases)
            )
            assert statuses == [202] * 3
        rows = await fetch(url, "SELECT external_id, status, reason FROM notifications")
        by_status: dict[str, list[str]] = {}
        for row in rows:
            by_status.setdefault(row["status"], []).append(row["external_id"])
        bursts = sorted(
            i
            for s, ids in by_status.items()
            for i in ids
            if i.startswith("msg-b") and s == "forwarded"
        )
        folded = [i for i in by_status.get("folded", []) if i.startswith("msg-b")]
        assert (len(bursts), len(folded)) == (3, 3), by_status
        assert len(by_status.get("breakthrough", [])) == 1, by_status
        assert sorted(by_status.get("held", [])) and len(by_status["held"]) == 2, by_status
        assert len(rows) == 9  # the retries stored nothing
        [episode] = await fetch(url, "SELECT count FROM episodes WHERE kind = 'burst'")
        assert episode["count"] == 3
        senders = await fetch(url, "SELECT sender_key FROM senders ORDER BY sender_key")
        assert [s["sender_key"] for s in senders] == ["contact:sophie", "sms:+31611112222"]

        # An edit through one instance: the next message through another decides by it at once
        # (no wait for that instance to notice the change by itself).
        token = "gdn_instances-test-token"
        await add_token(url, token)
        async with aiohttp.ClientSession() as http:
            async with http.patch(
                f"{bases[0]}/api/v1/contacts/sophie",
                json={"trust": "trusted"},
                headers={"Authorization": f"Bearer {token}"},
            ) as response:
                assert response.status == 200, await response.text()
            async with http.post(
                f"{bases[1]}/hooks/mia-bridge",
                json=message("after-edit"),
                headers={"Authorization": f"Bearer {TOKEN}"},
            ) as response:
                assert response.status == 202
        [after] = await fetch(
            url, "SELECT status, reason FROM notifications WHERE external_id = 'msg-after-edit'"
        )
        assert (after["status"], after["reason"]) == ("breakthrough", "trusted contact")
        for process in processes:
            process.send_signal(2)
        for process in processes:
            assert await asyncio.wait_for(process.wait(), 30) == 0
