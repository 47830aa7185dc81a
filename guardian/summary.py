"""Pure rendering of everything a member or guardian receives, at a privacy level.

`counts` shows numbers only, `senders` adds who (and conversation titles), `preview` adds the
first 80 characters of the newest message of each group. Nothing beyond the level is ever put in
a title or body. No I/O and no clock: every instant arrives with the data, and times are shown
in the household zone passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

PREVIEW_CHARS = 80
MAX_GROUPS = 8
TITLE_CHARS = 60  # what a lock screen shows without cutting
LEVELS = ("counts", "senders", "preview")

#: How a breakthrough in quiet hours and a burst's last notice say so; guardian.privacy reads
#: them back from what was sent when it renders a delivery again at a viewer's level.
BROKE_QUIET = "Broke through quiet hours"
BURST_OVER = " (burst over)"

INFO = "info"
URGENT = "warning"  # Apprise's NotifyType for what must be seen now
TEXT = "text"
MARKDOWN = "markdown"


@dataclass(frozen=True)
class Item:
    """One notification as rendering sees it."""

    sender_key: str
    sender_label: str
    network: str
    text: str
    at: datetime
    conversation: str | None = None
    conversation_key: str | None = None
    group: bool = False
    preview: str | None = None  # kept after `text` is erased


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str
    notify_type: str = INFO
    body_format: str = TEXT


@dataclass(frozen=True)
class Group:
    """Held items of one contact (across networks), or of one group chat."""

    label: str
    count: int
    first: datetime
    last: datetime
    newest_text: str
    key: str = ""
    people: tuple[str, ...] = ()  # sender labels, newest first
    sender_keys: frozenset[str] = frozenset()
    conversation: str | None = None
    group_chat: bool = False


@dataclass(frozen=True)
class Episode:
    """A burst or a storm: `count` messages from one contact between `first` and `last`."""

    label: str
    count: int
    first: datetime
    last: datetime


@dataclass(frozen=True)
class BreakthroughNote:
    label: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class ChildActivity:
    """What a guardian's report says about one child, shown at the child's `guardian_view`."""

    name: str
    level: str
    passed: int
    held: int
    quiet_activity: int
    bursts: Sequence[Episode]
    storms: Sequence[Episode]
    breakthroughs: Sequence[BreakthroughNote]
    failed_channels: Sequence[str]
    held_items: Sequence[Item] = ()
    #: The child's sources that had messages and then none for a day: (source id, last message).
    silent_sources: Sequence[tuple[str, datetime]] = ()


def _check(level: str) -> None:
    # An unknown level must never fall through to showing more.
    if level not in LEVELS:
        raise ValueError(f"unknown privacy level {level!r}; expected one of {LEVELS}")


# -- words ---------------------------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _people(n: int) -> str:
    return "1 person" if n == 1 else f"{n} people"


def _more(n: int) -> str:
    return f"{n} more message" if n == 1 else f"{n} more messages"


def _and(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _some(names: Sequence[str]) -> str:
    """At most two names, then how many others."""
    if len(names) <= 2:
        return _and(names)
    others = len(names) - 2
    return f"{names[0]}, {names[1]} and {others} {'other' if others == 1 else 'others'}"


def _flat(text: str) -> str:
    return " ".join(text.split())


def _preview(text: str) -> str:
    flat = _flat(text)
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def _item_text(item: Item) -> str:
    return item.text if item.text.strip() else (item.preview or "")


def _fit(before: str, name: str, after: str = "") -> str:
    """A title with a name, shortened so that it stays lock-screen short."""
    name = _flat(name)
    if len(before) + len(name) + len(after) > TITLE_CHARS:
        room = max(TITLE_CHARS - len(before) - len(after) - 1, 1)
        name = name[:room].rstrip() + "…"
    return f"{before}{name}{after}"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>~&|#])")


@dataclass(frozen=True)
class _Format:
    markdown: bool

    @property
    def body_format(self) -> str:
        return MARKDOWN if self.markdown else TEXT

    def esc(self, text: str) -> str:
        flat = _flat(text)
        return _MARKDOWN_SPECIAL.sub(r"\\\1", flat) if self.markdown else flat

    def name(self, text: str) -> str:
        return f"**{self.esc(text)}**" if self.markdown else _flat(text)

    def line(self, text: str, depth: int = 0) -> str:
        return "  " * depth + ("- " if self.markdown else "") + text


# -- time ----------------------------------------------------------------------------------


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    # A naive datetime would be read in the machine's zone: a hidden clock dependency.
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()}: pass an aware instant")
    return at.astimezone(zone)


def _clock(at: datetime, zone: ZoneInfo) -> str:
    return f"{_local(at, zone):%H:%M}"


def _ends(first: datetime, last: datetime, zone: ZoneInfo) -> tuple[str, str] | None:
    """Both ends as HH:MM, or with weekdays when they fall on different days; None if one."""
    a, b = _local(first, zone), _local(last, zone)
    if a.date() != b.date():
        return f"{a:%a %H:%M}", f"{b:%a %H:%M}"
    if f"{a:%H:%M}" == f"{b:%H:%M}":
        return None
    return f"{a:%H:%M}", f"{b:%H:%M}"


def _span(first: datetime, last: datetime, zone: ZoneInfo) -> str:
    ends = _ends(first, last, zone)
    return _clock(first, zone) if ends is None else f"{ends[0]}–{ends[1]}"


def _between(first: datetime, last: datetime, zone: ZoneInfo) -> str:
    ends = _ends(first, last, zone)
    return f"at {_clock(first, zone)}" if ends is None else f"between {ends[0]} and {ends[1]}"


def _part_of_day(at: datetime, zone: ZoneInfo) -> str:
    hour = _local(at, zone).hour
    if 6 <= hour < 12:
        return "this morning"
    if 12 <= hour < 18:
        return "this afternoon"
    return "tonight"


# -- grouping ------------------------------------------------------------------------------


def _group_key(item: Item) -> str:
    if item.group:
        return "chat:" + (item.conversation_key or f"{item.network}:{item.conversation or ''}")
    return "sender:" + item.sender_key


def _group(key: str, members: Sequence[Item]) -> Group:
    ordered = sorted(members, key=lambda i: i.at)
    newest = ordered[-1]
    labels: dict[str, str] = {}
    for item in reversed(ordered):
        labels.setdefault(item.sender_key, _flat(item.sender_label) or item.sender_key)
    people = tuple(labels.values())
    chat = newest.group
    conversation = None
    if chat:
        conversation = next(
            (_flat(i.conversation) for i in reversed(ordered) if i.conversation), None
        )
    who = _some(people)
    return Group(
        label=f"{who} in {conversation or 'a group chat'}" if chat else people[0],
        count=len(ordered),
        first=ordered[0].at,
        last=newest.at,
        newest_text=_item_text(newest),
        key=key,
        people=people,
        sender_keys=frozenset(labels),
        conversation=conversation,
        group_chat=chat,
    )


def group_items(items: Sequence[Item]) -> list[Group]:
    """Grouped by contact (private messages, across networks) and by group chat, newest first."""
    by_key: dict[str, list[Item]] = {}
    for item in items:
        by_key.setdefault(_group_key(item), []).append(item)
    groups = sorted((_group(k, m) for k, m in by_key.items()), key=lambda g: g.key)
    return sorted(groups, key=lambda g: g.last, reverse=True)


def _group_line(group: Group, level: str, zone: ZoneInfo, fmt: _Format) -> str:
    messages = _plural(group.count, "message")
    if level == "counts":
        if group.group_chat:
            who, what = "A group chat", f"{messages} from {_people(len(group.sender_keys))}"
        else:
            who, what = "Someone", messages
    else:
        who, what = fmt.name(_some(group.people)), messages
        if group.group_chat:
            who += " in " + (fmt.name(group.conversation) if group.conversation else "a group chat")
    line = f"{who}: {what}, {_span(group.first, group.last, zone)}"
    if level == "preview" and group.newest_text.strip():
        line += f" — “{fmt.esc(_preview(group.newest_text))}”"
    return line


def _group_lines(
    groups: Sequence[Group], level: str, zone: ZoneInfo, fmt: _Format, depth: int = 0
) -> list[str]:
    lines = [fmt.line(_group_line(g, level, zone, fmt), depth) for g in groups[:MAX_GROUPS]]
    rest = groups[MAX_GROUPS:]
    if rest:
        count = sum(g.count for g in rest)
        people = len({key for g in rest for key in g.sender_keys})
        lines.append(fmt.line(f"and {count} more from {_people(people)}", depth))
    return lines


# -- what a member receives ----------------------------------------------------------------


def _who(item: Item) -> str:
    label = _flat(item.sender_label) or item.sender_key
    if not item.group:
        return label
    return f"{label} in {_flat(item.conversation or '') or 'a group chat'}"


def render_forward(item: Item, level: str) -> Rendered:
    """One notification passed on at once."""
    _check(level)
    if level == "counts":
        return Rendered("New message", "You have 1 new message.")
    who = _who(item)
    title = _fit("", who, f" ({_flat(item.network)})")
    fallback = f"New message from {who}."
    if level == "senders":
        return Rendered(title, fallback)
    return Rendered(title, _preview(_item_text(item)) or fallback)


def render_summary(
    items: Sequence[Item], level: str, zone: ZoneInfo, *, markdown: bool = False
) -> Rendered:
    """Every held item in one message: one line per group, newest group first."""
    _check(level)
    fmt = _Format(markdown)
    if not items:
        return Rendered(
            "While you were away: no new messages", "Nothing is waiting.", INFO, fmt.body_format
        )
    groups = group_items(items)
    messages = _plural(len(items), "message")
    senders = {i.sender_key for i in items}
    if level != "counts" and len(senders) == 1:
        newest = max(items, key=lambda i: i.at)
        title = _fit(f"While you were away: {messages} from ", newest.sender_label)
    else:
        title = f"While you were away: {messages} from {_people(len(senders))}"
    body = "\n".join(_group_lines(groups, level, zone, fmt))
    return Rendered(title, body, INFO, fmt.body_format)


_REASONS_AT_COUNTS = (
    ("trusted", "a trusted contact"),
    ("keyword", "an emergency keyword"),
    ("repeated", "repeated contact"),
)


def reason_at_level(reason: str, level: str) -> str:
    """Why something broke through, without the keyword or a name at `counts`."""
    _check(level)
    if level != "counts":
        return _flat(reason)
    lowered = reason.strip().casefold()
    return next((s for k, s in _REASONS_AT_COUNTS if lowered.startswith(k)), "a breakthrough rule")


def render_breakthrough(item: Item, level: str, reason: str, *, quiet: bool = True) -> Rendered:
    """A notification sent at once, marked urgent, saying why it broke through."""
    why = reason_at_level(reason, level)
    # Outside quiet hours it may have broken through a burst, or nothing at all.
    broke = f"{BROKE_QUIET}: {why}." if quiet else f"Sent at once: {why}."
    if level == "counts":
        return Rendered("Urgent message", f"You have 1 urgent message. {broke}", URGENT)
    who = _who(item)
    title = _fit("Urgent: ", who, f" ({_flat(item.network)})")
    preview = _preview(_item_text(item)) if level == "preview" else ""
    first = preview or f"Urgent message from {who}."
    return Rendered(title, f"{first}\n{broke}", URGENT)


def render_burst_notice(
    label: str,
    count: int,
    first: datetime,
    last: datetime,
    zone: ZoneInfo,
    level: str,
    *,
    final: bool,
) -> Rendered:
    """Messages folded into one contact's burst, from `first` to `last`."""
    _check(level)
    span = _span(first, last, zone)
    over = BURST_OVER if final else ""
    if level == "counts":
        return Rendered("More messages", f"{_more(count)} from 1 person, {span}{over}.")
    name = _flat(label)
    return Rendered(_fit("More messages from ", name), f"{name} sent {_more(count)}, {span}{over}.")


# -- what a guardian receives --------------------------------------------------------------


def render_storm_alert(
    child: str,
    contact_label: str,
    count: int,
    first: datetime,
    last: datetime,
    zone: ZoneInfo,
    level: str,
) -> Rendered:
    """A storm in a child's quiet hours, told to guardians as soon as it is detected."""
    _check(level)
    child = _flat(child)
    title = _fit("Many messages for ", child, f" {_part_of_day(last, zone)}")
    messages, between = _plural(count, "message"), _between(first, last, zone)
    if level == "counts":
        body = f"{child} received {messages} from one person {between}."
    else:
        body = f"{_flat(contact_label)} sent {child} {messages} {between}."
    return Rendered(title, body, URGENT)


def _report_title(children: Sequence[ChildActivity]) -> str:
    if not children:
        return "Guardian report"
    title = f"Guardian report: {_and([_flat(c.name) for c in children])}"
    return title if len(title) <= TITLE_CHARS else f"Guardian report: {len(children)} children"


def _child_section(child: ChildActivity, zone: ZoneInfo, fmt: _Format) -> list[str]:
    counts = child.level == "counts"
    lines = [fmt.name(child.name)]
    lines.append(fmt.line(f"{_plural(child.passed, 'notification')} passed, {child.held} held."))
    if child.quiet_activity:
        quiet = f"{_plural(child.quiet_activity, 'message')} during quiet hours."
    else:
        quiet = "No messages during quiet hours."
    lines.append(fmt.line(quiet))
    for kind, episodes, anonymous in (
        ("Burst", child.bursts, "someone"),
        ("Storm", child.storms, "one person"),
    ):
        for e in episodes:
            who = anonymous if counts else fmt.name(e.label)
            span = _span(e.first, e.last, zone)
            lines.append(fmt.line(f"{kind}: {who} sent {_plural(e.count, 'message')}, {span}."))
    for b in child.breakthroughs:
        why = fmt.esc(reason_at_level(b.reason, child.level))
        when = _clock(b.at, zone)
        if counts:
            lines.append(fmt.line(f"Broke through at {when} ({why})."))
        else:
            lines.append(fmt.line(f"Broke through at {when}: {fmt.name(b.label)} ({why})."))
    if child.failed_channels:
        failed = ", ".join(fmt.esc(c) for c in child.failed_channels)
        lines.append(fmt.line(f"Failed channels: {failed}."))
    for source, last in child.silent_sources:
        since = last.astimezone(zone).strftime("%a %H:%M")
        lines.append(fmt.line(f"Silent source: {fmt.esc(source)}, no message since {since}."))
    if child.held_items and not counts:
        lines.append(fmt.line("Waiting:"))
        lines += _group_lines(group_items(child.held_items), child.level, zone, fmt, depth=1)
    return lines


def render_report(
    children: Sequence[ChildActivity], zone: ZoneInfo, *, markdown: bool = False
) -> Rendered:
    """One awareness report for a guardian, each child at that child's `guardian_view`."""
    for child in children:
        _check(child.level)
    fmt = _Format(markdown)
    sections = ["\n".join(_child_section(c, zone, fmt)) for c in children]
    body = "\n\n".join(sections) or "Nothing to report."
    return Rendered(_report_title(children), body, INFO, fmt.body_format)


# -- checking ------------------------------------------------------------------------------


def _forms(secret: str) -> set[str]:
    """The ways a string can appear once rendered: flattened, cut to a preview, escaped."""
    flat = _flat(secret)
    forms = {secret, flat}
    if len(flat) > PREVIEW_CHARS:
        forms.add(flat[: PREVIEW_CHARS - 1])
    forms |= {_Format(markdown=True).esc(f) for f in forms}
    return {f.casefold() for f in forms if f.strip()}


def leaks(rendered: Rendered, forbidden: Iterable[str]) -> list[str]:
    """The forbidden strings that appear (in any rendered form) in the title or body."""
    shown = f"{rendered.title}\n{rendered.body}".casefold()
    return [s for s in forbidden if any(form in shown for form in _forms(s))]
