"""Decisions under load equal the same messages replayed one by one (issue 12).

Many requests at once go through the writer's group commit: a batch is deduplicated, decided and
stored in one transaction, each sender's state moving on message by message. The same messages
sent one request at a time, in the order the loaded run stored them, must come out the same:
every status and reason, every burst and storm (and its count), every delivery decided at ingest
(forwards, breakthroughs, storm alerts) and every burst notice the timer builds afterwards. And
everything accepted is stored, once.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from guardian.core import INGEST
from guardian.plugin import PluginRegistry
from guardian.settings import Settings, load_settings
from tests.conftest import TOKEN, Running, at, settings_toml

NIGHT = at("2026-11-26T23:00:00+01:00")  # Thursday: inside Mia's quiet hours
MORNING = at("2026-11-27T08:00:00+01:00")  # Friday, after them: bursts fold and are noticed

Start = Callable[[Settings, datetime], Awaitable[Running]]

RULES = """
[policies.school-night.burst]
limit = 3
per = "10m"
notice_every = "5m"

[policies.school-night.breakthrough]
keywords = ["emergency"]
repeated = { count = 4, within = "5m" }

[policies.school-night.storm]
count = 6
within = "10m"
alert_guardians = true
"""

SENDERS = 7
WAVES = 4
PER_WAVE = 60


def messages(wave: int, start: datetime) -> list[dict[str, Any]]:
    """A wave of messages from a few senders taking turns, some with a keyword, some twice."""
    out = []
    for n in range(PER_WAVE):
        sender = (n * 3 + wave) % SENDERS
        text = "emergency, call me" if n % 17 == 5 else f"are you there? ({wave}.{n})"
        out.append(
            {
                "id": f"w{wave}-{n}",
                "network": "sms",
                "from": {"id": f"+3160000000{sender}", "name": f"Sender {sender}"},
                "text": text,
                "sent_at": start.isoformat(),
            }
        )
    # Retries of a few of them, in the same wave: duplicates, never counted twice.
    return out + out[::13]


def settings_at(folder: Path, name: str) -> Settings:
    path = folder / f"{name}.toml"
    path.write_text(settings_toml(folder / f"{name}.db", extra=RULES))
    return load_settings(path, PluginRegistry.discover().settings_models())


async def post(guardian: Running, body: Any) -> Any:
    raw = json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    answer = await guardian.client.post("/hooks/mia-bridge", data=raw, headers=headers)
    assert answer.status == 202, await answer.text()
    return await answer.json()


def stored(db: Path) -> dict[str, Any]:
    """Everything the decisions made, in a form that does not depend on row ids."""
    with sqlite3.connect(db) as connection:
        notifications = connection.execute(
            "SELECT n.external_id, n.status, n.reason, e.kind, e.sender_key FROM notifications n "
            "LEFT JOIN episodes e ON e.id = n.episode_id ORDER BY n.external_id"
        ).fetchall()
        episodes = connection.execute(
            "SELECT kind, sender_key, count, started_at, last_at, ended_at FROM episodes "
            "ORDER BY kind, sender_key, started_at"
        ).fetchall()
        deliveries = Counter(
            connection.execute(
                "SELECT d.kind, m.slug, d.title, d.body FROM deliveries d "
                "JOIN members m ON m.id = d.member_id"
            ).fetchall()
        )
        order = [
            row[0]
            for row in connection.execute("SELECT external_id FROM notifications ORDER BY rowid")
        ]
    return {
        "notifications": notifications,
        "episodes": episodes,
        "deliveries": deliveries,
        "order": order,
    }


async def test_decisions_under_load_equal_those_replayed_one_by_one(
    tmp_path: Path, start_guardian: Start
) -> None:
    waves = [(w, NIGHT + timedelta(minutes=2 * w)) for w in range(WAVES)]
    waves += [(WAVES + w, MORNING + timedelta(minutes=2 * w)) for w in range(WAVES)]
    end = MORNING + timedelta(hours=1)

    # Loaded: every wave's requests at once, single messages and arrays mixed.
    loaded = await start_guardian(settings_at(tmp_path, "loaded"), NIGHT)
    accepted = 0
    for wave, instant in waves:
        await loaded.run_until(instant)
        bodies: list[Any] = []
        for index, body in enumerate(messages(wave, instant)):
            if index % 5 == 4:
                bodies[-1] = [*(bodies[-1] if isinstance(bodies[-1], list) else [bodies[-1]]), body]
            else:
                bodies.append(body)
        answers = await asyncio.gather(*(post(loaded, body) for body in bodies))
        accepted += sum(a["accepted"] for a in answers)
    batches = loaded.client.app[INGEST].writer.batches  # type: ignore[index]
    await loaded.run_until(end)
    await loaded.client.close()
    under_load = stored(tmp_path / "loaded.db")
    assert batches < sum(1 for _ in under_load["order"]), "the load never shared a commit"
    assert len(under_load["notifications"]) == accepted  # stored == accepted, once each

    # Replayed: the same messages one request at a time, in the order the loaded run stored
    # them (a retry after its original), at the same instants.
    replayed = await start_guardian(settings_at(tmp_path, "replayed"), NIGHT)
    position = {external_id: i for i, external_id in enumerate(under_load["order"])}
    for wave, instant in waves:
        await replayed.run_until(instant)
        wave_messages = messages(wave, instant)
        firsts = {m["id"]: m for m in wave_messages}
        for message in sorted(firsts.values(), key=lambda m: position[m["id"]]):
            await post(replayed, message)
        for retry in wave_messages[PER_WAVE:]:
            assert (await post(replayed, retry))["duplicates"] == 1
    await replayed.run_until(end)
    await replayed.client.close()
    one_by_one = stored(tmp_path / "replayed.db")

    assert one_by_one["order"] == under_load["order"]
    assert one_by_one["notifications"] == under_load["notifications"]
    assert one_by_one["episodes"] == under_load["episodes"]
    assert one_by_one["deliveries"] == under_load["deliveries"]
    kinds = Counter(kind for kind, *_ in under_load["deliveries"].elements())
    statuses = Counter(status for _, status, *_ in under_load["notifications"])
    # The rules were all exercised: held, breakthroughs, folds, storms and their alerts.
    assert kinds["breakthrough"] and kinds["storm"] and kinds["burst"] and kinds["summary"]
    assert statuses["folded"] or statuses["noticed"]


async def test_a_summary_that_fails_to_build_holds_up_no_other_member(
    tmp_path: Path, start_guardian: Start, monkeypatch: Any
) -> None:
    """Summaries are built in chunks, one transaction each: a member whose summary raises is
    left out of its chunk (logged, left due) and the others' summaries are built and sent."""
    import guardian.scheduler as scheduler_module

    path = tmp_path / "both.toml"
    text = settings_toml(tmp_path / "both.db").replace(
        'role = "guardian"\n', 'role = "guardian"\npolicy = "school-night"\n', 1
    )
    path.write_text(text)
    settings = load_settings(path, PluginRegistry.discover().settings_models())
    guardian = await start_guardian(settings, NIGHT)
    for n, to in ((1, "mia"), (2, "sam"), (3, "mia")):
        answer = await guardian.post({**MESSAGE, "id": f"m{n}", "to": to}, source="family-sms")
        assert answer.status == 202

    real = scheduler_module.render_groups
    failures = []

    def render_groups(groups: Any, *args: Any, **kwargs: Any) -> Any:
        # Mia's summary (two held), the first time only.
        if sum(g.count for g in groups) == 2 and not failures:
            failures.append(True)
            raise RuntimeError("a rendering bug")
        return real(groups, *args, **kwargs)

    monkeypatch.setattr(scheduler_module, "render_groups", render_groups)
    window_end = at("2026-11-27T07:00:00+01:00")
    await guardian.tick_at(window_end)
    scheduler = guardian.service.scheduler
    assert scheduler is not None
    assert list(scheduler.failing) == ["summary for mia"]
    with sqlite3.connect(tmp_path / "both.db") as connection:
        built = connection.execute(
            "SELECT m.slug FROM deliveries d JOIN members m ON m.id = d.member_id "
            "WHERE d.kind = 'summary'"
        ).fetchall()
        assert built == [("sam",)]
    await guardian.tick_at(window_end + timedelta(seconds=30))  # the bug is gone: Mia's goes
    assert not scheduler.failing
    with sqlite3.connect(tmp_path / "both.db") as connection:
        statuses = connection.execute(
            "SELECT status, COUNT(*) FROM notifications GROUP BY status"
        ).fetchall()
        kinds = connection.execute(
            "SELECT m.slug, COUNT(*) FROM deliveries d JOIN members m ON m.id = d.member_id "
            "WHERE d.kind = 'summary' GROUP BY m.slug ORDER BY m.slug"
        ).fetchall()
    assert statuses == [("summarised", 3)]
    assert kinds == [("mia", 1), ("sam", 1)]


MESSAGE = {"network": "sms", "from": {"id": "+31611111111", "name": "Someone"}, "text": "hi"}
