"""What each sender sent each member lately: the history that bursts, repeated contact and
storms are decided on. Kept in memory for speed, rebuilt from the database at start-up."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from guardian.household import HouseholdView
from guardian.models import Notification
from guardian.policy import Action, Seen
from guardian.windows import quiet_interval_at

#: Longer than any burst `per`, repeated `within` or storm `within` a household would set.
LOOKBACK = timedelta(hours=24)
MAX_PER_SENDER = 1000

STATUS_ACTION = {
    "forwarded": Action.FORWARD,
    "breakthrough": Action.BREAKTHROUGH,
    "held": Action.HOLD,
    "summarised": Action.HOLD,
    "folded": Action.FOLD,
    "noticed": Action.FOLD,
}


class Activity:
    def __init__(self) -> None:
        self._seen: dict[tuple[int, str], deque[Seen]] = {}

    def recent(self, member_pk: int, sender_key: str, now: datetime) -> list[Seen]:
        seen = self._seen.get((member_pk, sender_key))
        if not seen:
            return []
        while seen and now - seen[0].at > LOOKBACK:
            seen.popleft()
        return list(seen)

    def record(self, member_pk: int, sender_key: str, seen: Seen) -> None:
        self._seen.setdefault((member_pk, sender_key), deque(maxlen=MAX_PER_SENDER)).append(seen)

    async def load(self, view: HouseholdView, now: datetime) -> None:
        """Rebuild from what the database holds for the last LOOKBACK."""
        self._seen.clear()
        rows = (
            await Notification.filter(household_id=view.id, received_at__gte=now - LOOKBACK)
            .order_by("received_at")
            .values_list("member_id", "sender_key", "received_at", "status", "reason")
        )
        policies = {m.pk: m.policy for m in view.members.values()}
        for member_pk, sender_key, at, status, reason in rows:
            policy = policies.get(member_pk)
            quiet = policy is not None and (
                quiet_interval_at(policy.windows(), view.zone, at) is not None
            )
            action = STATUS_ACTION.get(status, Action.HOLD)
            self.record(member_pk, sender_key, Seen(at, action, reason or "", quiet))
