"""Dashboard pages: activity, a heatmap per member of notifications per local hour, quiet hours
hatched; drawn here as SVG, so the page needs no script."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import ValidationError

from guardian.api.activity import ActivityQuery, MemberActivity, activity
from guardian.dashboard import admin_of, render

routes = web.RouteTableDef()

#: The chart's own units; the SVG scales to the width of the page (viewBox, width 100%).
CELL = 12
LABEL_WIDTH = 40
HEADER = 14
LEVELS = 4
DAY_CHOICES = (1, 7, 14, 31)


@dataclass(frozen=True)
class Cell:
    x: int
    y: int
    count: int
    quiet: bool
    shade: int  # 0 = none, 1..LEVELS = busier
    label: str  # "Tue 23:00 – 12 notifications (quiet hours)"
    row: int = 0
    column: int = 0
    day: str = ""  # "Tue 24 Nov": the label says the weekday only

    @property
    def spoken(self) -> str:
        """What a screen reader, a keyboard or a tap reads out: the label with its date."""
        return f"{self.day}, {self.label.split(' ', 1)[1]}" if self.day else self.label


#: The calm chart: one pair of bars per day, messages beside interruptions.
BAR_WIDTH = 10
DAY_WIDTH = 28
BAR_HEIGHT = 60


@dataclass(frozen=True)
class Bar:
    x: int
    label: str  # "Tue 24"
    messages: int
    interruptions: int
    messages_height: float
    interruptions_height: float
    words: str  # "Tue 24: 58 messages, 3 interruptions"


@dataclass(frozen=True)
class CalmChart:
    width: int
    height: int
    bars: list[Bar]
    messages: int
    interruptions: int
    description: str


def _interruptions(n: int) -> str:
    return "1 interruption" if n == 1 else f"{n} interruptions"


def _messages(n: int) -> str:
    return "1 message" if n == 1 else f"{n} messages"


def calm_chart(member: MemberActivity) -> CalmChart:
    """Per day, how many messages came and how many of them interrupted (reached the phone)."""
    most = max((max(d.messages, d.interruptions) for d in member.days), default=0) or 1
    bars = []
    for i, d in enumerate(member.days):
        words = f"{d.day:%a %d}: {_messages(d.messages)}, {_interruptions(d.interruptions)}"
        bars.append(
            Bar(
                x=i * DAY_WIDTH + 4,
                label=f"{d.day:%a %d}",
                messages=d.messages,
                interruptions=d.interruptions,
                messages_height=round(BAR_HEIGHT * d.messages / most, 1),
                interruptions_height=round(BAR_HEIGHT * d.interruptions / most, 1),
                words=words,
            )
        )
    messages = sum(d.messages for d in member.days)
    interruptions = sum(d.interruptions for d in member.days)
    description = "; ".join(b.words for b in bars) + "."
    return CalmChart(
        width=max(len(bars), 1) * DAY_WIDTH + 8,
        height=BAR_HEIGHT + 26,
        bars=bars,
        messages=messages,
        interruptions=interruptions,
        description=description,
    )


@dataclass(frozen=True)
class Row:
    y: int
    label: str


@dataclass(frozen=True)
class Chart:
    member: MemberActivity
    width: int
    height: int
    rows: list[Row]
    cells: list[Cell]
    hours: list[tuple[int, str]]  # x, "03"
    busiest: list[Cell]
    quiet_total: int
    description: str


def _notifications(n: int) -> str:
    return "1 notification" if n == 1 else f"{n} notifications"


def chart(member: MemberActivity, zone: ZoneInfo) -> Chart:
    """The member's hours as a days × 24 grid of cells, in local time."""
    grid: dict[tuple[date, int], tuple[int, bool, datetime]] = {}
    for hour in member.hours:
        local = hour.start.astimezone(zone)
        key = (local.date(), local.hour)
        # The repeated hour of a fall-back night shares one cell.
        count, quiet, first = grid.get(key, (0, False, local))
        grid[key] = (count + hour.count, quiet or hour.quiet, first)
    days = sorted({day for day, _ in grid})
    most = max((count for count, _, _ in grid.values()), default=0)
    rows = [Row(HEADER + i * CELL, f"{day:%a %d}") for i, day in enumerate(days)]
    cells = []
    for (day, hour_of_day), (count, quiet, local) in sorted(grid.items()):
        shade = math.ceil(LEVELS * count / most) if count else 0
        label = f"{local:%a} {hour_of_day:02d}:00 – {_notifications(count)}"
        cells.append(
            Cell(
                x=LABEL_WIDTH + hour_of_day * CELL,
                y=HEADER + days.index(day) * CELL,
                count=count,
                quiet=quiet,
                shade=shade,
                label=label + (" (quiet hours)" if quiet else ""),
                row=days.index(day),
                column=hour_of_day,
                day=f"{local:%a %d %b}",
            )
        )
    busiest = sorted((c for c in cells if c.count), key=lambda c: -c.count)[:5]
    quiet_total = sum(c.count for c in cells if c.quiet)
    summary = (
        f"{_notifications(member.total)} in total, {quiet_total} of them in quiet hours"
        if member.total
        else "No notifications"
    )
    busiest_text = f" The busiest hour: {busiest[0].label}." if busiest else ""
    description = (
        f"Each row is a day, each column an hour of the day, 00:00 to 23:00, local time. "
        f"Darker cells had more notifications; hatched cells are quiet hours, as they were "
        f"on that day. {summary}.{busiest_text}"
    )
    return Chart(
        member=member,
        width=LABEL_WIDTH + 24 * CELL,
        height=HEADER + len(days) * CELL,
        rows=rows,
        cells=cells,
        hours=[(LABEL_WIDTH + h * CELL, f"{h:02d}") for h in range(0, 24, 3)],
        busiest=busiest,
        quiet_total=quiet_total,
        description=description,
    )


@routes.get("/activity")
async def activity_page(request: web.Request) -> web.Response:
    admin = admin_of(request)
    error = None
    status = 200
    try:
        days = ActivityQuery.model_validate(dict(request.query)).days
    except ValidationError:
        error, status, days = "Choose between 1 and 31 days.", 422, 7
    found = await activity(admin, days)
    zone = admin.view.zone
    charts = [(chart(member, zone), calm_chart(member)) for member in found.members]
    context = {
        "charts": charts,
        "days": days,
        "day_choices": sorted({*DAY_CHOICES, days}),
        "error": error,
        "levels": range(LEVELS + 1),
    }
    return render(request, "activity.html", context, status)
