"""Property: whatever arrives, and whatever the policy, every accepted notification is
accounted for exactly once, nothing is pushed in quiet hours but breakthroughs and storm
alerts, and no delivery carries text beyond its privacy level."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardian.app import create_app
from guardian.clock import VirtualClock
from guardian.core import CORE, INGEST
from guardian.delivery import RecordingSender
from guardian.ingest import Arrival, checked
from guardian.models import Delivery, Notification
from guardian.plugin import HookError, PluginRegistry
from guardian.policy_settings import PolicySettings
from guardian.scenario import Event
from guardian.settings import DatabaseSettings, Settings, load_settings
from guardian.simulate import replay, run_until
from guardian.webhook_format import WebhookMessage
from guardian.windows import quiet_interval_at
from tests.conftest import settings_toml

START = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)  # Wednesday 19:00 in Amsterdam
SENDERS = [
    ("sms", "+31612345678", "Sophie"),  # the contact Sophie
    ("telegram", "99887766", "Soph"),  # Sophie again, on another network
    ("whatsapp", "31600000001", "Noor"),
    ("sms", "+31699999999", "Unknown"),
]

policies = st.builds(
    lambda quiet, limit, repeated, storm, content: PolicySettings.model_validate(
        {
            "quiet": [{"days": "daily", "start": quiet[0], "end": quiet[1]}],
            "burst": {"limit": limit, "per": "10m", "notice_every": "15m"},
            "breakthrough": {
                "keywords": ["emergency"],
                "repeated": {"count": repeated, "within": "3m"} if repeated else None,
            },
            "storm": {"count": storm, "within": "30m", "alert_guardians": True},
            "content": content,
            "guardian_view": content,
            "report": "07:30",
        }
    ),
    quiet=st.sampled_from([("21:30", "07:00"), ("23:00", "06:00"), ("13:00", "14:00")]),
    limit=st.integers(1, 4),
    repeated=st.sampled_from([None, 3, 5]),
    storm=st.integers(3, 8),
    content=st.sampled_from(["counts", "senders"]),
)

arrivals = st.lists(
    st.tuples(
        st.integers(0, 36 * 60),  # minutes after START
        st.integers(0, len(SENDERS) - 1),
        st.booleans(),  # says "emergency"
    ),
    min_size=1,
    max_size=40,
)


def secret_text(n: int) -> str:
    return f"zq{n:04d}xv"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(policy=policies, arrivals=arrivals)
async def test_every_notification_is_accounted_for_once(
    tmp_path: Path, policy: PolicySettings, arrivals: list[tuple[int, int, bool]]
) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(settings_toml(tmp_path / "unused.db"))
    base = load_settings(config, PluginRegistry.discover().settings_models())
    household: Settings = base.model_copy(update={"policies": {"school-night": policy}})
    events = []
    for n, (minute, sender, urgent) in enumerate(sorted(arrivals)):
        network, ident, name = SENDERS[sender]
        text = ("emergency " if urgent else "") + secret_text(n)
        body: dict[str, Any] = {
            "id": f"m{n}",
            "network": network,
            "from": {"id": ident, "name": name},
            "text": text,
        }
        events.append(
            Event(
                at=START + timedelta(minutes=minute),
                source="mia-phone",
                message=WebhookMessage.model_validate(body),
            )
        )
    async with replay(household, events) as guardian:
        view = guardian.household()
        mia = view.members["mia"]
        notifications = await Notification.filter(member_id=mia.pk)
        deliveries = {d.id: d for d in await Delivery.all()}
        assert len(notifications) == len(events)

        # Accounted for exactly once.
        pushed_keys = {d.dedup_key for d in deliveries.values()}
        for n in notifications:
            if n.status in ("forwarded", "breakthrough"):
                kind = "forward" if n.status == "forwarded" else "breakthrough"
                assert f"{kind}:{mia.pk}:{n.id}" in pushed_keys
                assert n.delivery_id is None
            elif n.status in ("summarised", "noticed"):
                covering = deliveries[n.delivery_id]
                assert covering.kind == ("summary" if n.status == "summarised" else "burst")
            else:
                assert n.status in ("held", "folded")
                assert n.delivery_id is None

        # Each summary and notice counts exactly what it covers.
        for delivery in deliveries.values():
            if delivery.kind in ("summary", "burst"):
                covered = sum(1 for n in notifications if n.delivery_id == delivery.id)
                counted = re.search(r"(\d+) (?:more )?messages?", delivery.title + delivery.body)
                assert counted is not None and int(counted[1]) == covered

        # Nothing pushed to Mia in her quiet hours but breakthroughs.
        windows = mia.policy.windows()
        for delivery in deliveries.values():
            if delivery.member_id == mia.pk and delivery.kind in ("forward", "summary", "burst"):
                assert quiet_interval_at(windows, view.zone, delivery.created_at) is None

        # No text beyond the level (counts and senders never show message text).
        for delivery in deliveries.values():
            shown = delivery.title + delivery.body + (delivery.body_markdown or "")
            assert not re.search(r"zq\d{4}xv", shown), (delivery.kind, shown)


# --- the same decisions, whatever retries, refusals and restarts come in between ------------


async def _decided(
    household: Settings,
    folder: Path,
    arrivals: list[tuple[int, int, bool]],
    *,
    retries: set[int] = frozenset(),  # type: ignore[assignment]
    refused: set[int] = frozenset(),  # type: ignore[assignment]
    restarts: set[int] = frozenset(),  # type: ignore[assignment]
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """Run the arrivals through the real app on a database in `folder`: each retried one is
    sent again a minute later, a refused request (to a member its source may not write to)
    comes before each in `refused`, and the app is stopped and started again before each in
    `restarts`. Returns every notification's decision and every delivery made."""
    settings = household.model_copy(
        update={"database": DatabaseSettings(url=f"sqlite://{folder}/guardian.db")}
    )
    events: list[tuple[datetime, str, dict[str, Any], int]] = []
    for n, (minute, sender, urgent) in enumerate(sorted(arrivals)):
        network, ident, name = SENDERS[sender]
        body = {
            "id": f"m{n}",
            "network": network,
            "from": {"id": ident, "name": name},
            "text": ("emergency " if urgent else "") + secret_text(n),
        }
        at = START + timedelta(minutes=minute)
        if n in refused:
            events.append((at, "mia-phone", {**body, "id": f"refused-{n}", "to": "sam"}, n))
        events.append((at, "mia-phone", body, n))
        if n in retries:
            events.append((at + timedelta(minutes=1), "mia-phone", body, -1))
    events.sort(key=lambda e: e[0])
    clock = VirtualClock(START)
    runner: web.AppRunner | None = None
    try:
        for at, source_id, body, n in events:
            if runner is None or n in restarts:
                if runner is not None:
                    await runner.cleanup()
                app = create_app(settings, clock, sender=RecordingSender(), run_scheduler=False)
                runner = web.AppRunner(app)
                await runner.setup()
            service = app[CORE]
            await run_until(service, clock, max(at, clock.now()))
            view = service.household()
            source = view.sources[source_id]
            try:
                messages = checked([WebhookMessage.model_validate(body).incoming()], source, view)
            except HookError:
                continue  # answered 4xx: it never reaches the writer
            await app[INGEST].arrive(Arrival(messages, source, clock.now()))
        await run_until(app[CORE], clock, clock.now() + timedelta(days=2))
        decided = [
            (n.external_id, n.status, n.reason or "")
            for n in await Notification.all().order_by("external_id")
        ]
        made = [
            (d.kind, d.title, d.body)
            for d in await Delivery.all().order_by("created_at", "kind", "title")
        ]
        return decided, made
    finally:
        if runner is not None:
            await runner.cleanup()


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(policy=policies, arrivals=arrivals, data=st.data())
async def test_retries_refusals_and_restarts_change_no_decision(
    tmp_path: Path, policy: PolicySettings, arrivals: list[tuple[int, int, bool]], data: Any
) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(settings_toml(tmp_path / "unused.db"))
    base = load_settings(config, PluginRegistry.discover().settings_models())
    household: Settings = base.model_copy(update={"policies": {"school-night": policy}})
    indexes = st.sets(st.integers(0, len(arrivals) - 1), max_size=len(arrivals))
    retries, refused, restarts = (data.draw(indexes) for _ in range(3))
    plain, noisy = (tmp_path / uuid.uuid4().hex for _ in range(2))
    plain.mkdir()
    noisy.mkdir()
    expected = await _decided(household, plain, arrivals)
    assert (
        await _decided(
            household, noisy, arrivals, retries=retries, refused=refused, restarts=restarts
        )
        == expected
    )
