"""Property: whatever arrives, and whatever the policy, every accepted notification is
accounted for exactly once, nothing is pushed in quiet hours but breakthroughs and storm
alerts, and no delivery carries text beyond its privacy level."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardian.models import Delivery, Notification
from guardian.plugin import PluginRegistry
from guardian.settings import PolicySettings, Settings, load_settings
from guardian.simulate import Event, replay
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
                assert n.delivery_id is None  # type: ignore[attr-defined]
            elif n.status in ("summarised", "noticed"):
                covering = deliveries[n.delivery_id]  # type: ignore[attr-defined]
                assert covering.kind == ("summary" if n.status == "summarised" else "burst")
            else:
                assert n.status in ("held", "folded")
                assert n.delivery_id is None  # type: ignore[attr-defined]

        # Each summary and notice counts exactly what it covers.
        for delivery in deliveries.values():
            if delivery.kind in ("summary", "burst"):
                covered = sum(1 for n in notifications if n.delivery_id == delivery.id)  # type: ignore[attr-defined]
                counted = re.search(r"(\d+) (?:more )?messages?", delivery.title + delivery.body)
                assert counted is not None and int(counted[1]) == covered

        # Nothing pushed to Mia in her quiet hours but breakthroughs.
        windows = mia.policy.windows()
        for delivery in deliveries.values():
            if delivery.member_id == mia.pk and delivery.kind in ("forward", "summary", "burst"):  # type: ignore[attr-defined]
                assert quiet_interval_at(windows, view.zone, delivery.created_at) is None

        # No text beyond the level (counts and senders never show message text).
        for delivery in deliveries.values():
            shown = delivery.title + delivery.body + (delivery.body_markdown or "")
            assert not re.search(r"zq\d{4}xv", shown), (delivery.kind, shown)
