"""`GET /metrics` in the Prometheus text format: what an operator graphs and alerts on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from tortoise.functions import Count, Sum

from guardian.household import HouseholdView
from guardian.models import Delivery, Notification, Schedule
from guardian.words import UNSENT, NotificationStatus


@dataclass
class Counters:
    """Counted by this process since it started (Prometheus handles restarts of counters)."""

    accepted: int = 0
    duplicates: int = 0


def _line(name: str, value: float, **labels: str) -> str:
    if labels:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}} {value:g}"
    return f"{name} {value:g}"


def _family(name: str, kind: str, help: str, *samples: str) -> list[str]:
    return [f"# HELP {name} {help}", f"# TYPE {name} {kind}", *samples]


async def render(counters: Counters, view: HouseholdView, now: datetime) -> str:
    by_state = (
        await Delivery.filter(household_id=view.id)
        .annotate(n=Count("id"), tries=Sum("attempts"))
        .group_by("kind", "status")
        .values_list("kind", "status", "n", "tries")
    )
    pending = sum(n for _, status, n, _ in by_state if status in UNSENT)
    oldest = (
        await Notification.filter(household_id=view.id, status=NotificationStatus.HELD)
        .order_by("received_at")
        .first()
    )
    overdue = (
        await Schedule.filter(member__household_id=view.id, next_due_at__lte=now)
        .order_by("next_due_at")
        .first()
    )
    lag = (now - overdue.next_due_at).total_seconds() if overdue and overdue.next_due_at else 0
    lines = [
        *_family(
            "guardian_notifications_accepted_total",
            "counter",
            "Notifications stored by this process.",
            _line("guardian_notifications_accepted_total", counters.accepted),
        ),
        *_family(
            "guardian_notifications_duplicate_total",
            "counter",
            "Notifications refused as duplicates (same source and id) by this process.",
            _line("guardian_notifications_duplicate_total", counters.duplicates),
        ),
        *_family(
            "guardian_deliveries",
            "gauge",
            "Deliveries in the database by kind and status.",
            *(_line("guardian_deliveries", n, kind=k, status=s) for k, s, n, _ in by_state),
        ),
        *_family(
            "guardian_delivery_attempts",
            "gauge",
            "Send attempts of the deliveries in the database.",
            *(
                _line("guardian_delivery_attempts", tries or 0, kind=k, status=s)
                for k, s, _, tries in by_state
            ),
        ),
        *_family(
            "guardian_delivery_queue_depth",
            "gauge",
            "Deliveries waiting to be sent or retried.",
            _line("guardian_delivery_queue_depth", pending),
        ),
        *_family(
            "guardian_oldest_held_seconds",
            "gauge",
            "Age of the oldest held notification.",
            _line(
                "guardian_oldest_held_seconds",
                (now - oldest.received_at).total_seconds() if oldest else 0,
            ),
        ),
        *_family(
            "guardian_summary_lag_seconds",
            "gauge",
            "How far the most overdue summary or report is behind its due time.",
            _line("guardian_summary_lag_seconds", max(lag, 0)),
        ),
    ]
    return "\n".join(lines) + "\n"


def response(text: str) -> web.Response:
    return web.Response(
        text=text,
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )
