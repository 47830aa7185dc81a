"""Pure rendering of what a member receives: forwards and summaries, at a privacy level.

`counts` shows numbers only, `senders` adds who, `preview` adds the first 80 characters of the
newest message of each group. Nothing beyond the level is ever put in a title or body.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

PREVIEW_CHARS = 80
MAX_GROUPS = 8


@dataclass(frozen=True)
class Item:
    """One notification as rendering sees it."""

    sender_key: str
    sender_label: str
    network: str
    text: str
    at: datetime
    conversation: str | None = None


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str
    notify_type: str = "info"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _people(n: int) -> str:
    return "1 person" if n == 1 else f"{n} people"


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def render_forward(item: Item, level: str) -> Rendered:
    if level == "counts":
        return Rendered("New message", "You have 1 new message.")
    title = f"{item.sender_label} ({item.network})"
    if level == "senders":
        return Rendered(title, f"New message from {item.sender_label}.")
    return Rendered(title, _preview(item.text) or f"New message from {item.sender_label}.")


@dataclass(frozen=True)
class Group:
    label: str
    count: int
    first: datetime
    last: datetime
    newest_text: str


def group_items(items: Sequence[Item]) -> list[Group]:
    """Grouped by sender, newest group first."""
    by_key: dict[str, list[Item]] = {}
    for item in items:
        by_key.setdefault(item.sender_key, []).append(item)
    groups = []
    for members in by_key.values():
        ordered = sorted(members, key=lambda i: i.at)
        groups.append(
            Group(
                label=ordered[-1].sender_label,
                count=len(ordered),
                first=ordered[0].at,
                last=ordered[-1].at,
                newest_text=ordered[-1].text,
            )
        )
    return sorted(groups, key=lambda g: g.last, reverse=True)


def _span(first: datetime, last: datetime, zone: ZoneInfo) -> str:
    a, b = first.astimezone(zone), last.astimezone(zone)
    if a.date() == b.date():
        return a.strftime("%H:%M") if a == b else f"{a:%H:%M}–{b:%H:%M}"
    return f"{a:%a %H:%M}–{b:%a %H:%M}"


def render_summary(items: Sequence[Item], level: str, zone: ZoneInfo) -> Rendered:
    groups = group_items(items)
    total = len(items)
    messages = _plural(total, "message")
    if level == "counts":
        return Rendered(
            f"While you were away: {messages}",
            f"{messages} from {_people(len(groups))} arrived during quiet hours.",
        )
    if len(groups) == 1:
        title = f"While you were away: {messages} from {groups[0].label}"
    else:
        title = f"While you were away: {messages} from {_people(len(groups))}"
    lines = []
    for group in groups[:MAX_GROUPS]:
        span = _span(group.first, group.last, zone)
        line = f"{group.label}: {_plural(group.count, 'message')}, {span}"
        if level == "preview" and group.newest_text:
            line += f" — “{_preview(group.newest_text)}”"
        lines.append(line)
    rest = groups[MAX_GROUPS:]
    if rest:
        lines.append(f"and {sum(g.count for g in rest)} more from {_people(len(rest))}")
    return Rendered(title, "\n".join(lines))
