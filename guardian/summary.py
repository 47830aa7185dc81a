"""Pure rendering of everything a member or guardian receives, at a privacy level.

`counts` shows numbers only, `senders` adds who (and conversation titles), `preview` adds the
first 80 characters of the newest message of each group. Nothing beyond the level is ever put in
a title or body. No I/O and no clock: every instant arrives with the data, and times are shown
in the household zone passed in.

One module because every text shares the privacy levels, the grouping by sender and the
language's formats: a forward, a summary, a notice and a report must say one thing one way.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from guardian import i18n
from guardian.durations import parse_duration
from guardian.i18n import DEFAULT_LANGUAGE, Language
from guardian.words import DeliveryKind

PREVIEW_CHARS = 80
MAX_GROUPS = 8
TITLE_CHARS = 60  # what a lock screen shows without cutting
LEVELS = ("counts", "senders", "preview")

INFO = "info"
URGENT = "warning"  # Apprise's NotifyType for what must be seen now
FAILURE = "failure"
TEXT = "text"
MARKDOWN = "markdown"


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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
class EpisodeNote:
    """A burst or a storm as a report tells it (the stored one is `models.Episode`): `count`
    messages from one contact between `first` and `last`."""

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
class Calm:
    """The calm Guardian brought a member: how many messages came, and how many times their
    phone was interrupted (every delivery to them but a test), since the last report and in
    the last seven days."""

    messages: int
    interruptions: int
    week_messages: int
    week_interruptions: int


@dataclass(frozen=True)
class ChildActivity:
    """What a guardian's report says about one child, shown at the child's `guardian_view`."""

    name: str
    level: str
    passed: int
    held: int
    quiet_activity: int
    bursts: Sequence[EpisodeNote]
    storms: Sequence[EpisodeNote]
    breakthroughs: Sequence[BreakthroughNote]
    failed_channels: Sequence[str]
    held_items: Sequence[Item] = ()
    #: The child's sources that had messages and then none for a day: (source id, last message).
    silent_sources: Sequence[tuple[str, datetime]] = ()
    calm: Calm | None = None


ENGLISH = i18n.language(i18n.SOURCE_LANGUAGE)


def _check(level: str) -> None:
    # An unknown level must never fall through to showing more.
    if level not in LEVELS:
        raise ValueError(f"unknown privacy level {level!r}; expected one of {LEVELS}")


# -- words ---------------------------------------------------------------------------------
#
# Every word below is a gettext message (English in the code, translated in guardian/locale/);
# `t` is the reader's language. A comment starting with TRANSLATORS: is shown to translators.


def _messages(n: int, t: Language) -> str:
    return t.ngettext("{n} message", "{n} messages", n)


def _people(n: int, t: Language) -> str:
    return t.ngettext("{n} person", "{n} people", n)


def _interruptions(n: int, t: Language) -> str:
    # TRANSLATORS: a message that reached the phone and made it buzz (a forward, a summary).
    return t.ngettext("{n} interruption", "{n} interruptions", n)


def _more(n: int, t: Language) -> str:
    return t.ngettext("{n} more message", "{n} more messages", n)


def _some(names: Sequence[str], t: Language) -> str:
    """At most two names, then how many others."""
    names = [_isolated(name) for name in names]
    if len(names) <= 2:
        return t.list(names)
    others = len(names) - 2
    return t.ngettext(
        "{first}, {second} and {n} other",
        "{first}, {second} and {n} others",
        others,
        first=names[0],
        second=names[1],
    )


def _flat(text: str) -> str:
    return " ".join(text.split())


def _preview(text: str) -> str:
    flat = _flat(text)
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def _item_text(item: Item) -> str:
    return item.text if item.text.strip() else (item.preview or "")


FSI, PDI = "\u2068", "\u2069"  # Unicode's first-strong isolate and its end
#: Right-to-left letters and numbers, and the explicit direction controls.
_DIRECTIONAL = frozenset({"R", "AL", "AN", "RLE", "LRE", "RLO", "LRO", "PDF", "RLI", "LRI", "FSI"})


def _isolated(text: str) -> str:
    """A name or text from outside, isolated when it could turn the sentence around it.

    An Arabic or Hebrew name in a Dutch line would otherwise pull the colon and the count
    after it into its own right-to-left run ("3 :سارة berichten"), and a stray direction
    control would reorder the rest of the line. Text without them is left as it is.
    """
    if any(unicodedata.bidirectional(c) in _DIRECTIONAL or c == PDI for c in text):
        return f"{FSI}{text}{PDI}"
    return text


def _fit(sentence: Callable[[str], str], name: str) -> str:
    """A title with a name in it, the name shortened so that it stays lock-screen short."""
    name = _flat(name)
    title = sentence(name)
    room = len(name) - (len(title) - TITLE_CHARS) - 1
    while len(title) > TITLE_CHARS:
        cut = name[: max(room, 1)].rstrip() + "…"
        # A cut inside an isolated name must still close it.
        title = sentence(cut + PDI * (cut.count(FSI) - cut.count(PDI)))
        if room <= 1:
            break
        room -= 1
    return title


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


def _clock(at: datetime, zone: ZoneInfo, t: Language) -> str:
    return t.time(_local(at, zone), zone)


def _ends(first: datetime, last: datetime, zone: ZoneInfo, t: Language) -> tuple[str, str] | None:
    """Both ends with their weekdays when they fall on different days; None if one minute."""
    a, b = _local(first, zone), _local(last, zone)
    if a.date() != b.date():
        return t.day_time(a, zone), t.day_time(b, zone)
    if (a.hour, a.minute) == (b.hour, b.minute):
        return None
    return t.time(a, zone), t.time(b, zone)


def _span(first: datetime, last: datetime, zone: ZoneInfo, t: Language) -> str:
    """`23:00`, `23:00–23:39`, or `Wed 23:50–Thu 00:20`, as the language writes them."""
    a, b = _local(first, zone), _local(last, zone)
    if a.date() != b.date():
        # TRANSLATORS: from one weekday and time to another, e.g. "Wed 23:50–Thu 00:20".
        return t.pgettext(
            "time range across days",
            "{start}–{end}",
            start=t.day_time(a, zone),
            end=t.day_time(b, zone),
        )
    if (a.hour, a.minute) == (b.hour, b.minute):
        return t.time(a, zone)
    return t.time_range(a, b, zone)


def _part_of_day(at: datetime, zone: ZoneInfo) -> str:
    hour = _local(at, zone).hour
    if 6 <= hour < 12:
        return "morning"
    if 12 <= hour < 18:
        return "afternoon"
    return "evening" if 18 <= hour < 22 else "night"


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
        labels.setdefault(item.sender_key, item.sender_label)
    chat = newest.group
    conversation = None
    if chat:
        conversation = next((i.conversation for i in reversed(ordered) if i.conversation), None)
    return counted_group(
        key,
        len(ordered),
        ordered[0].at,
        newest.at,
        _item_text(newest),
        list(labels.items()),
        conversation,
        chat=chat,
    )


def counted_group(
    key: str,
    count: int,
    first: datetime,
    last: datetime,
    newest_text: str,
    senders: Sequence[tuple[str, str]],
    conversation: str | None,
    *,
    chat: bool,
) -> Group:
    """A group from what is known of its items without the items themselves (the timer counts
    them in SQL): `senders` are (sender key, label of its newest item), newest first, and
    `conversation` the title of the newest item that has one."""
    people = tuple(_flat(label) or sender for sender, label in senders)
    if chat and conversation is not None:
        conversation = _flat(conversation)
    who = _some(people, ENGLISH)
    return Group(
        label=f"{who} in {conversation or 'a group chat'}" if chat else people[0],
        count=count,
        first=first,
        last=last,
        newest_text=newest_text,
        key=key,
        people=people,
        sender_keys=frozenset(sender for sender, _ in senders),
        conversation=conversation if chat else None,
        group_chat=chat,
    )


def group_items(items: Sequence[Item]) -> list[Group]:
    """Grouped by contact (private messages, across networks) and by group chat, newest first."""
    by_key: dict[str, list[Item]] = {}
    for item in items:
        by_key.setdefault(_group_key(item), []).append(item)
    groups = sorted((_group(k, m) for k, m in by_key.items()), key=lambda g: g.key)
    return sorted(groups, key=lambda g: g.last, reverse=True)


def _in_chat(who: str, chat: str | None, t: Language) -> str:
    if chat:
        return t.gettext("{who} in {chat}", who=who, chat=chat)
    return t.gettext("{who} in a group chat", who=who)


def _group_line(group: Group, level: str, zone: ZoneInfo, fmt: _Format, t: Language) -> str:
    messages = _messages(group.count, t)
    if level == "counts":
        if group.group_chat:
            who = t.gettext("A group chat")
            what = t.gettext(
                "{messages} from {people}",
                messages=messages,
                people=_people(len(group.sender_keys), t),
            )
        else:
            who, what = t.gettext("Someone"), messages
    else:
        who, what = fmt.name(_some(group.people, t)), messages
        if group.group_chat:
            chat = fmt.name(_isolated(group.conversation)) if group.conversation else None
            who = _in_chat(who, chat, t)
    # TRANSLATORS: one line of a summary: "Sophie: 40 messages, 23:00–23:39".
    line = t.gettext(
        "{who}: {messages}, {when}",
        who=who,
        messages=what,
        when=_span(group.first, group.last, zone, t),
    )
    if level == "preview" and group.newest_text.strip():
        preview = _isolated(fmt.esc(_preview(group.newest_text)))
        # TRANSLATORS: a summary line, then the start of the newest message in quotes.
        line = t.gettext("{line} — “{preview}”", line=line, preview=preview)
    return line


def _group_lines(
    groups: Sequence[Group],
    level: str,
    zone: ZoneInfo,
    fmt: _Format,
    t: Language,
    depth: int = 0,
) -> list[str]:
    lines = [fmt.line(_group_line(g, level, zone, fmt, t), depth) for g in groups[:MAX_GROUPS]]
    rest = groups[MAX_GROUPS:]
    if rest:
        count = sum(g.count for g in rest)
        people = len({key for g in rest for key in g.sender_keys})
        # TRANSLATORS: the last line of a long summary: messages not listed above it.
        more = t.ngettext(
            "and {n} more from {people}",
            "and {n} more from {people}",
            count,
            people=_people(people, t),
        )
        lines.append(fmt.line(more, depth))
    return lines


# -- what a member receives ----------------------------------------------------------------


def _who(item: Item, t: Language) -> str:
    label = _isolated(_flat(item.sender_label) or item.sender_key)
    if not item.group:
        return label
    return _in_chat(label, _isolated(_flat(item.conversation or "")) or None, t)


def render_forward(item: Item, level: str, *, language: str = DEFAULT_LANGUAGE) -> Rendered:
    """One notification passed on at once."""
    _check(level)
    t = i18n.language(language)
    if level == "counts":
        return Rendered(t.gettext("New message"), t.gettext("You have 1 new message."))
    who = _who(item, t)
    network = _flat(item.network)
    # TRANSLATORS: a title: who wrote, and on which network, e.g. "Sophie (whatsapp)".
    title = _fit(lambda name: t.gettext("{who} ({network})", who=name, network=network), who)
    fallback = t.gettext("New message from {who}.", who=who)
    if level == "senders":
        return Rendered(title, fallback)
    return Rendered(title, _preview(_item_text(item)) or fallback)


def render_summary(
    items: Sequence[Item],
    level: str,
    zone: ZoneInfo,
    *,
    markdown: bool = False,
    language: str = DEFAULT_LANGUAGE,
    groups: Sequence[Group] | None = None,
) -> Rendered:
    """Every held item in one message: one line per group, newest group first.

    `groups` is `group_items(items)` when the caller has it already (a summary is rendered
    twice, as text and as Markdown, from the same groups)."""
    if groups is None:
        groups = group_items(items)
    return render_groups(
        groups,
        level,
        zone,
        newest_label=lambda: max(items, key=lambda i: i.at).sender_label,
        markdown=markdown,
        language=language,
    )


def render_groups(
    groups: Sequence[Group],
    level: str,
    zone: ZoneInfo,
    *,
    newest_label: str | Callable[[], str],
    markdown: bool = False,
    language: str = DEFAULT_LANGUAGE,
) -> Rendered:
    """`render_summary` from the groups alone (as `group_items` orders them), for a caller that
    counted the items without reading each one. `newest_label` is the sender label of the
    newest item (the first of them, if several share the newest instant), shown in the title
    when there is one sender; a function giving it is called only then."""
    _check(level)
    t = i18n.language(language)
    fmt = _Format(markdown)
    if not groups:
        return Rendered(
            t.gettext("While you were away: no new messages"),
            t.gettext("Nothing is waiting."),
            INFO,
            fmt.body_format,
        )
    messages = _messages(sum(g.count for g in groups), t)
    senders = {key for group in groups for key in group.sender_keys}
    if level != "counts" and len(senders) == 1:
        title = _fit(
            # TRANSLATORS: the title of a summary sent when quiet hours end.
            lambda name: t.gettext(
                "While you were away: {messages} from {name}",
                messages=messages,
                name=_isolated(name),
            ),
            newest_label if isinstance(newest_label, str) else newest_label(),
        )
    else:
        title = t.gettext(
            "While you were away: {messages} from {people}",
            messages=messages,
            people=_people(len(senders), t),
        )
    body = "\n".join(_group_lines(groups, level, zone, fmt, t))
    return Rendered(title, body, INFO, fmt.body_format)


_REASON = re.compile(
    r"(?P<trusted>trusted contact)"
    r"|keyword “(?P<keyword>.*)”"
    r"|repeated contact: (?P<count>[0-9]+) messages within (?P<within>[0-9dhms]+)",
    re.DOTALL,
)


def reason_at_level(reason: str, level: str, *, language: str = DEFAULT_LANGUAGE) -> str:
    """Why something broke through, without the keyword or a name at `counts`.

    `reason` is what the policy decided and the database keeps (`keyword “hospital”`, in
    English); it is told again in `language`, and shown as it is where it is not one of those.
    """
    _check(level)
    t = i18n.language(language)
    if level == "counts":
        lowered = reason.strip().casefold()
        if lowered.startswith("trusted"):
            return t.gettext("a trusted contact")
        if lowered.startswith("keyword"):
            return t.gettext("an emergency keyword")
        if lowered.startswith("repeated"):
            return t.gettext("repeated contact")
        return t.gettext("a breakthrough rule")
    found = _REASON.fullmatch(_flat(reason))
    within = _duration(found["within"]) if found and found["within"] else None
    if found is None or (found["count"] and within is None):
        return _isolated(_flat(reason))
    if found["trusted"]:
        return t.gettext("trusted contact")
    if within is None:
        return t.gettext("keyword “{keyword}”", keyword=_isolated(found["keyword"]))
    # TRANSLATORS: why a message broke through: e.g. "3 messages within 5 minutes".
    return t.ngettext(
        "repeated contact: {n} message within {within}",
        "repeated contact: {n} messages within {within}",
        int(found["count"]),
        within=t.duration(within),
    )


def _duration(text: str) -> timedelta | None:
    try:
        return parse_duration(text)
    except ValueError:
        return None


def render_breakthrough(
    item: Item, level: str, reason: str, *, quiet: bool = True, language: str = DEFAULT_LANGUAGE
) -> Rendered:
    """A notification sent at once, marked urgent, saying why it broke through."""
    t = i18n.language(language)
    why = reason_at_level(reason, level, language=language)
    # Outside quiet hours it may have broken through a burst, or nothing at all.
    if quiet:
        broke = t.gettext("Broke through quiet hours: {why}.", why=why)
    else:
        broke = t.gettext("Sent at once: {why}.", why=why)
    if level == "counts":
        body = t.gettext("You have 1 urgent message. {reason}", reason=broke)
        return Rendered(t.gettext("Urgent message"), body, URGENT)
    who = _who(item, t)
    network = _flat(item.network)
    title = _fit(
        lambda name: t.gettext("Urgent: {who} ({network})", who=name, network=network), who
    )
    preview = _preview(_item_text(item)) if level == "preview" else ""
    first = preview or t.gettext("Urgent message from {who}.", who=who)
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
    language: str = DEFAULT_LANGUAGE,
) -> Rendered:
    """Messages folded into one contact's burst, from `first` to `last`."""
    _check(level)
    t = i18n.language(language)
    when, more = _span(first, last, zone, t), _more(count, t)
    if level == "counts":
        if final:
            body = t.gettext("{more} from 1 person, {when} (burst over).", more=more, when=when)
        else:
            body = t.gettext("{more} from 1 person, {when}.", more=more, when=when)
        return Rendered(t.gettext("More messages"), body)
    name = _isolated(_flat(label))
    if final:
        # TRANSLATORS: the last notice of a burst: the friend has stopped writing for now.
        body = t.gettext(
            "{name} sent {more}, {when} (burst over).", name=name, more=more, when=when
        )
    else:
        # TRANSLATORS: a burst notice: "Sophie sent 12 more messages, 22:10–22:31."
        body = t.gettext("{name} sent {more}, {when}.", name=name, more=more, when=when)
    title = _fit(lambda n: t.gettext("More messages from {name}", name=_isolated(n)), label)
    return Rendered(title, body)


# -- what a guardian receives --------------------------------------------------------------


def _storm_title(part: str, child: str, t: Language) -> str:
    """`Many messages for Mia tonight`: the part of the day the storm's last message fell in."""
    if part == "morning":
        return t.gettext("Many messages for {child} this morning", child=child)
    if part == "afternoon":
        return t.gettext("Many messages for {child} this afternoon", child=child)
    if part == "evening":
        # TRANSLATORS: a storm between 18:00 and 22:00.
        return t.pgettext("evening", "Many messages for {child} tonight", child=child)
    # TRANSLATORS: a storm between 22:00 and 06:00.
    return t.pgettext("night", "Many messages for {child} tonight", child=child)


def render_storm_alert(
    child: str,
    contact_label: str,
    count: int,
    first: datetime,
    last: datetime,
    zone: ZoneInfo,
    level: str,
    *,
    language: str = DEFAULT_LANGUAGE,
) -> Rendered:
    """A storm in a child's quiet hours, told to guardians as soon as it is detected."""
    _check(level)
    t = i18n.language(language)
    part = _part_of_day(last, zone)
    title = _fit(lambda name: _storm_title(part, _isolated(name), t), child)
    child = _isolated(_flat(child))
    messages, ends = _messages(count, t), _ends(first, last, zone, t)
    contact = _isolated(_flat(contact_label))
    if level == "counts":
        if ends is None:
            body = t.gettext(
                "{child} received {messages} from one person at {time}.",
                child=child,
                messages=messages,
                time=_clock(first, zone, t),
            )
        else:
            body = t.gettext(
                "{child} received {messages} from one person between {start} and {end}.",
                child=child,
                messages=messages,
                start=ends[0],
                end=ends[1],
            )
    elif ends is None:
        body = t.gettext(
            "{contact} sent {child} {messages} at {time}.",
            contact=contact,
            child=child,
            messages=messages,
            time=_clock(first, zone, t),
        )
    else:
        body = t.gettext(
            "{contact} sent {child} {messages} between {start} and {end}.",
            contact=contact,
            child=child,
            messages=messages,
            start=ends[0],
            end=ends[1],
        )
    return Rendered(title, body, URGENT)


def _report_title(children: Sequence[ChildActivity], t: Language) -> str:
    if not children:
        return t.gettext("Guardian report")
    names = t.list(_isolated(_flat(c.name)) for c in children)
    title = t.gettext("Guardian report: {names}", names=names)
    if len(title) <= TITLE_CHARS:
        return title
    return t.ngettext("Guardian report: {n} child", "Guardian report: {n} children", len(children))


def _child_section(child: ChildActivity, zone: ZoneInfo, fmt: _Format, t: Language) -> list[str]:
    counts = child.level == "counts"
    lines = [fmt.name(_isolated(child.name))]
    passed = t.ngettext("{n} notification passed", "{n} notifications passed", child.passed)
    # TRANSLATORS: "40 held": notifications kept for a summary.
    held = t.ngettext("{n} held", "{n} held", child.held)
    # TRANSLATORS: e.g. "3 notifications passed, 40 held."
    lines.append(fmt.line(t.gettext("{passed}, {held}.", passed=passed, held=held)))
    if child.quiet_activity:
        quiet = t.ngettext(
            "{n} message during quiet hours.",
            "{n} messages during quiet hours.",
            child.quiet_activity,
        )
    else:
        quiet = t.gettext("No messages during quiet hours.")
    lines.append(fmt.line(quiet))
    if child.calm is not None:
        c = child.calm
        # TRANSLATORS: the calm Guardian brought: e.g. "Since the last report: 58 messages, 3
        # interruptions; this week: 210 messages, 14 interruptions." An interruption is a
        # message that reached the phone.
        calm = t.gettext(
            "Since the last report: {messages}, {interruptions}; "
            "this week: {week_messages}, {week_interruptions}.",
            messages=_messages(c.messages, t),
            interruptions=_interruptions(c.interruptions, t),
            week_messages=_messages(c.week_messages, t),
            week_interruptions=_interruptions(c.week_interruptions, t),
        )
        lines.append(fmt.line(calm))
    for e in child.bursts:
        span, messages = _span(e.first, e.last, zone, t), _messages(e.count, t)
        if counts:
            line = t.gettext(
                "Burst: someone sent {messages}, {when}.", messages=messages, when=span
            )
        else:
            who = fmt.name(_isolated(e.label))
            # TRANSLATORS: many messages in a row outside quiet hours, folded into notices.
            line = t.gettext(
                "Burst: {who} sent {messages}, {when}.",
                who=who,
                messages=messages,
                when=span,
            )
        lines.append(fmt.line(line))
    for e in child.storms:
        span, messages = _span(e.first, e.last, zone, t), _messages(e.count, t)
        if counts:
            line = t.gettext(
                "Storm: one person sent {messages}, {when}.", messages=messages, when=span
            )
        else:
            # TRANSLATORS: very many messages from one person during quiet hours.
            line = t.gettext(
                "Storm: {who} sent {messages}, {when}.",
                who=fmt.name(_isolated(e.label)),
                messages=messages,
                when=span,
            )
        lines.append(fmt.line(line))
    for b in child.breakthroughs:
        why = fmt.esc(reason_at_level(b.reason, child.level, language=t.code))
        when = _clock(b.at, zone, t)
        if counts:
            line = t.gettext("Broke through at {time} ({why}).", time=when, why=why)
        else:
            line = t.gettext(
                "Broke through at {time}: {who} ({why}).",
                time=when,
                who=fmt.name(_isolated(b.label)),
                why=why,
            )
        lines.append(fmt.line(line))
    if child.failed_channels:
        failed = ", ".join(fmt.esc(c) for c in child.failed_channels)
        lines.append(fmt.line(t.gettext("Failed channels: {channels}.", channels=failed)))
    for source, last in child.silent_sources:
        # TRANSLATORS: a source is one connected phone, app or account.
        line = t.gettext(
            "Silent source: {source}, no message since {since}.",
            source=fmt.esc(source),
            since=t.day_time(_local(last, zone), zone),
        )
        lines.append(fmt.line(line))
    if child.held_items and not counts:
        # TRANSLATORS: followed by the messages still held for the next summary.
        lines.append(fmt.line(t.gettext("Waiting:")))
        lines += _group_lines(group_items(child.held_items), child.level, zone, fmt, t, depth=1)
    return lines


def render_report(
    children: Sequence[ChildActivity],
    zone: ZoneInfo,
    *,
    markdown: bool = False,
    language: str = DEFAULT_LANGUAGE,
) -> Rendered:
    """One awareness report for a guardian, each child at that child's `guardian_view`."""
    for child in children:
        _check(child.level)
    t = i18n.language(language)
    fmt = _Format(markdown)
    sections = ["\n".join(_child_section(c, zone, fmt, t)) for c in children]
    body = "\n\n".join(sections) or t.gettext("Nothing to report.")
    return Rendered(_report_title(children, t), body, INFO, fmt.body_format)


# -- what Guardian says about itself -------------------------------------------------------


def _kind_for(kind: str, name: str, t: Language) -> str:
    """`A summary for Mia`: what could not be delivered, and to whom."""
    texts: dict[str, str] = {
        DeliveryKind.FORWARD: t.gettext("A forward for {name}", name=name),
        DeliveryKind.SUMMARY: t.gettext("A summary for {name}", name=name),
        DeliveryKind.BURST: t.gettext("A burst for {name}", name=name),
        DeliveryKind.BREAKTHROUGH: t.gettext("A breakthrough for {name}", name=name),
        DeliveryKind.REPORT: t.gettext("A report for {name}", name=name),
        DeliveryKind.STORM: t.gettext("A storm for {name}", name=name),
        DeliveryKind.TEST: t.gettext("A test for {name}", name=name),
    }
    return texts.get(kind) or t.gettext("A {kind} for {name}", kind=kind, name=name)


_GAVE_UP = re.compile(r"gave up after (?:(?P<attempts>[0-9]+) attempts|(?P<age>[0-9dhms]+))")


def _delivery_error(error: str, t: Language) -> str:
    """Why a delivery failed, as delivery.py recorded it, told in `t`'s words where known."""
    if error == "the member has no channels":
        return t.gettext("the member has no channels")
    if error.startswith("misconfigured channel: "):
        channels = error.removeprefix("misconfigured channel: ")
        return t.gettext("misconfigured channel: {channels}", channels=channels)
    found = _GAVE_UP.fullmatch(error)
    if found and found["attempts"]:
        attempts = int(found["attempts"])
        return t.ngettext("gave up after {n} attempts", "gave up after {n} attempts", attempts)
    age = _duration(found["age"]) if found and found["age"] else None
    if age is not None:
        return t.gettext("gave up after {duration}", duration=t.duration(age))
    return error


def render_failure_report(
    member_name: str, kind: str, error: str | None, *, language: str = DEFAULT_LANGUAGE
) -> Rendered:
    """What guardians are told when a delivery to `member_name` was given up."""
    t = i18n.language(language)
    name = _isolated(member_name)
    title = t.gettext("Guardian could not reach {name}", name=name)
    failed = t.gettext(
        "{what} could not be delivered: {error}.",
        what=_kind_for(kind, name, t),
        error=_delivery_error(error or "", t),
    )
    check = t.gettext("Check the channel on the dashboard or with `guardian send-test`.")
    return Rendered(title, f"{failed} {check}", FAILURE)


def render_test(
    member_name: str, *, this_channel: bool = False, language: str = DEFAULT_LANGUAGE
) -> Rendered:
    """A test message to a member's channels (or to one of them, from the dashboard)."""
    t = i18n.language(language)
    name = _isolated(_flat(member_name))
    if this_channel:
        body = t.gettext(
            "Hello {name}, this is a test from Guardian. This channel works.", name=name
        )
    else:
        body = t.gettext(
            "Hello {name}, this is a test from Guardian. Your channel works.", name=name
        )
    return Rendered(t.gettext("Guardian test"), body)


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
