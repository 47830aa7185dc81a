"""Dashboard pages: activity, a heatmap per member of notifications per local hour, quiet hours
hatched; drawn here as SVG, so the page needs no script."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import ValidationError

from guardian import i18n
from guardian.api.activity import ENGLISH, ActivityQuery, MemberActivity, activity
from guardian.dashboard import admin_of, page_language, render
from guardian.i18n import Language

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


def _interruptions(t: Language, n: int) -> str:
    # Translators: an interruption is a message that reached the member's phone.
    return t.ngettext("{n} interruption", "{n} interruptions", n)


def _messages(t: Language, n: int) -> str:
    return t.ngettext("{n} message", "{n} messages", n)


def _day(t: Language, day: date, skeleton: str = "Ed") -> str:
    """`Tue 24` (English as before; other languages as CLDR writes a weekday and a day)."""
    if t.code == i18n.SOURCE_LANGUAGE:
        return f"{day:%a %d}" if skeleton == "Ed" else f"{day:%a %d %b}"
    return t.formatted(datetime.combine(day, time()), None, skeleton)


def calm_chart(member: MemberActivity, t: Language = ENGLISH) -> CalmChart:
    """Per day, how many messages came and how many of them interrupted (reached the phone)."""
    most = max((max(d.messages, d.interruptions) for d in member.days), default=0) or 1
    bars = []
    for i, d in enumerate(member.days):
        # Translators: one day of the chart: "Tue 24: 58 messages, 3 interruptions".
        words = t.gettext(
            "{day}: {messages}, {interruptions}",
            day=_day(t, d.day),
            messages=_messages(t, d.messages),
            interruptions=_interruptions(t, d.interruptions),
        )
        bars.append(
            Bar(
                x=i * DAY_WIDTH + 4,
                label=_day(t, d.day),
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


def _notifications(t: Language, n: int) -> str:
    return t.ngettext("{n} notification", "{n} notifications", n)


def chart(member: MemberActivity, zone: ZoneInfo, t: Language = ENGLISH) -> Chart:
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
    rows = [Row(HEADER + i * CELL, _day(t, day)) for i, day in enumerate(days)]
    cells = []
    for (day, hour_of_day), (count, quiet, local) in sorted(grid.items()):
        shade = math.ceil(LEVELS * count / most) if count else 0
        weekday = f"{local:%a}" if t.code == i18n.SOURCE_LANGUAGE else t.formatted(local, None, "E")
        clock = f"{hour_of_day:02d}"
        # Translators: one hour of the chart: "Tue 23:00 – 12 notifications".
        label = t.gettext(
            "{day} {hour}:00 – {notifications}",
            day=weekday,
            hour=clock,
            notifications=_notifications(t, count),
        )
        cells.append(
            Cell(
                x=LABEL_WIDTH + hour_of_day * CELL,
                y=HEADER + days.index(day) * CELL,
                count=count,
                quiet=quiet,
                shade=shade,
                label=t.gettext("{hour} (quiet hours)", hour=label) if quiet else label,
                row=days.index(day),
                column=hour_of_day,
                day=_day(t, day, "MMMEd"),
            )
        )
    busiest = sorted((c for c in cells if c.count), key=lambda c: -c.count)[:5]
    quiet_total = sum(c.count for c in cells if c.quiet)
    summary = (
        t.gettext(
            "{notifications} in total, {quiet} of them in quiet hours",
            notifications=_notifications(t, member.total),
            quiet=quiet_total,
        )
        if member.total
        else t.gettext("No notifications")
    )
    busiest_text = (
        " " + t.gettext("The busiest hour: {hour}.", hour=busiest[0].label) if busiest else ""
    )
    description = (
        t.gettext(
            "Each row is a day, each column an hour of the day, 00:00 to 23:00, local time. "
            "Darker cells had more notifications; hatched cells are quiet hours, as they were "
            "on that day."
        )
        + f" {summary}.{busiest_text}"
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
        error, status, days = (
            page_language(request).gettext("Choose between 1 and 31 days."),
            422,
            7,
        )
    found = await activity(admin, days)
    zone = admin.view.zone
    t = page_language(request)
    charts = [(chart(member, zone, t), calm_chart(member, t)) for member in found.members]
    context = {
        "charts": charts,
        "days": days,
        "day_choices": sorted({*DAY_CHOICES, days}),
        "error": error,
        "levels": range(LEVELS + 1),
    }
    return render(request, "activity.html", context, status)
