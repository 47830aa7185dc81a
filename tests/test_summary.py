"""What members and guardians receive, at each privacy level: tables of small stories.

Times are local to Europe/Amsterdam (UTC+1 in November): 25 November 2026 is a Wednesday.
Items carry UTC instants, as they come out of the database.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardian.summary import (
    LEVELS,
    MAX_GROUPS,
    TITLE_CHARS,
    BreakthroughNote,
    ChildActivity,
    EpisodeNote,
    Item,
    Rendered,
    group_items,
    leaks,
    reason_at_level,
    render_breakthrough,
    render_burst_notice,
    render_forward,
    render_report,
    render_storm_alert,
    render_summary,
)

AMS = ZoneInfo("Europe/Amsterdam")


def at(local: str) -> datetime:
    """'Wed 23:00' style stories: `local` is 'YYYY-MM-DD HH:MM' or 'HH:MM' on Wednesday 25th."""
    if len(local) == 5:
        local = f"2026-11-25 {local}"
    return datetime.fromisoformat(local).replace(tzinfo=AMS).astimezone(UTC)


CONTACTS = {
    "Sophie": "contact:sophie",
    "Noor": "contact:noor",
    "Grandma": "contact:grandma",
    "Daan": "contact:daan",
}


def msg(
    who: str,
    when: str,
    text: str = "",
    network: str = "sms",
    *,
    chat: str | None = None,
    preview: str | None = None,
    key: str | None = None,
) -> Item:
    return Item(
        sender_key=key or CONTACTS.get(who, f"{network}:{who.lower()}"),
        sender_label=who,
        network=network,
        text=text,
        at=at(when),
        conversation=chat,
        conversation_key=f"{network}:{chat}" if chat else None,
        group=chat is not None,
        preview=preview,
    )


SCHOOL_NIGHT = [
    msg("Sophie", "23:00", "are you awake?"),
    msg("Sophie", "23:05", "please answer", "telegram"),
    msg("Noor", "23:20", "did you do the maths homework", "whatsapp"),
    msg("Sophie", "23:40", "ok good night"),
]


# -- summaries -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("story", "items", "level", "markdown", "title", "body"),
    [
        (
            "a school night, numbers only",
            SCHOOL_NIGHT,
            "counts",
            False,
            "While you were away: 4 messages from 2 people",
            "Someone: 3 messages, 23:00–23:40\nSomeone: 1 message, 23:20",
        ),
        (
            "a school night, with who: Sophie over sms and telegram is one group",
            SCHOOL_NIGHT,
            "senders",
            False,
            "While you were away: 4 messages from 2 people",
            "Sophie: 3 messages, 23:00–23:40\nNoor: 1 message, 23:20",
        ),
        (
            "a school night, with the newest message of each group",
            SCHOOL_NIGHT,
            "preview",
            False,
            "While you were away: 4 messages from 2 people",
            "Sophie: 3 messages, 23:00–23:40 — “ok good night”\n"
            "Noor: 1 message, 23:20 — “did you do the maths homework”",
        ),
        (
            "a school night in Markdown, numbers only",
            SCHOOL_NIGHT,
            "counts",
            True,
            "While you were away: 4 messages from 2 people",
            "- Someone: 3 messages, 23:00–23:40\n- Someone: 1 message, 23:20",
        ),
        (
            "a school night in Markdown: bold names, a bullet list",
            SCHOOL_NIGHT,
            "senders",
            True,
            "While you were away: 4 messages from 2 people",
            "- **Sophie**: 3 messages, 23:00–23:40\n- **Noor**: 1 message, 23:20",
        ),
        (
            "a school night in Markdown with previews",
            SCHOOL_NIGHT,
            "preview",
            True,
            "While you were away: 4 messages from 2 people",
            "- **Sophie**: 3 messages, 23:00–23:40 — “ok good night”\n"
            "- **Noor**: 1 message, 23:20 — “did you do the maths homework”",
        ),
        (
            "a friend in crisis over three networks: one person, named in the title",
            [
                msg("Sophie", "23:00", "are you awake", "sms"),
                msg("Sophie", "23:10", "i need to talk", "whatsapp"),
                msg("Sophie", "23:25", "please", "telegram"),
            ],
            "senders",
            False,
            "While you were away: 3 messages from Sophie",
            "Sophie: 3 messages, 23:00–23:25",
        ),
        (
            "one person at counts: still no name",
            [msg("Sophie", "23:00", "are you awake"), msg("Sophie", "23:10", "hello")],
            "counts",
            False,
            "While you were away: 2 messages from 1 person",
            "Someone: 2 messages, 23:00–23:10",
        ),
        (
            "a group chat is its own group, apart from the same friend's private messages",
            [
                msg("Sophie", "22:00", "hi", "whatsapp"),
                msg("Sophie", "22:30", "homework?", "whatsapp", chat="Class 3B"),
            ],
            "senders",
            False,
            "While you were away: 2 messages from Sophie",
            "Sophie in Class 3B: 1 message, 22:30\nSophie: 1 message, 22:00",
        ),
        (
            "a busy group chat names two people, then how many others",
            [
                msg("Noor", "21:00", "a", "whatsapp", chat="Class 3B"),
                msg("Daan", "21:05", "b", "whatsapp", chat="Class 3B"),
                msg("Sophie", "21:10", "c", "whatsapp", chat="Class 3B"),
                msg("Noor", "21:15", "d", "whatsapp", chat="Class 3B"),
                msg("Grandma", "21:20", "e", "whatsapp", chat="Class 3B"),
            ],
            "senders",
            False,
            "While you were away: 5 messages from 4 people",
            "Grandma, Noor and 2 others in Class 3B: 5 messages, 21:00–21:20",
        ),
        (
            "a group chat at counts: no title, no names, how many people",
            [
                msg("Noor", "21:00", "a", "whatsapp", chat="Class 3B"),
                msg("Daan", "21:05", "b", "whatsapp", chat="Class 3B"),
            ],
            "counts",
            False,
            "While you were away: 2 messages from 2 people",
            "A group chat: 2 messages from 2 people, 21:00–21:05",
        ),
        (
            "a group chat in Markdown: bold names and title",
            [msg("Noor", "21:00", "a", "whatsapp", chat="Class 3B")],
            "preview",
            True,
            "While you were away: 1 message from Noor",
            "- **Noor** in **Class 3B**: 1 message, 21:00 — “a”",
        ),
        (
            "the same chat title on two networks is two chats",
            [
                msg("Noor", "21:00", "a", "whatsapp", chat="Family"),
                msg("Noor", "21:05", "b", "telegram", chat="Family"),
            ],
            "senders",
            False,
            "While you were away: 2 messages from Noor",
            "Noor in Family: 1 message, 21:05\nNoor in Family: 1 message, 21:00",
        ),
        (
            "unknown senders are grouped by address and shown by their own name",
            [
                msg("Lotte", "20:00", "x", "telegram", key="telegram:555"),
                msg("Lotte", "20:10", "y", "telegram", key="telegram:555"),
                msg("Lotte", "20:20", "z", "sms", key="sms:+31600000009"),
            ],
            "senders",
            False,
            "While you were away: 3 messages from 2 people",
            "Lotte: 1 message, 20:20\nLotte: 2 messages, 20:00–20:10",
        ),
        (
            "newest group first, by its last message, not its first",
            [
                msg("Noor", "21:00", "early"),
                msg("Sophie", "21:30", "middle"),
                msg("Noor", "22:00", "late"),
            ],
            "senders",
            False,
            "While you were away: 3 messages from 2 people",
            "Noor: 2 messages, 21:00–22:00\nSophie: 1 message, 21:30",
        ),
        (
            "a group that spans midnight shows weekdays",
            [msg("Sophie", "23:50", "still up?"), msg("Sophie", "2026-11-26 00:20", "night")],
            "counts",
            False,
            "While you were away: 2 messages from 1 person",
            "Someone: 2 messages, Wed 23:50–Thu 00:20",
        ),
        (
            "two messages in one minute show one time",
            [msg("Sophie", "23:50", "a"), msg("Sophie", "23:50", "b")],
            "preview",
            False,
            "While you were away: 2 messages from Sophie",
            "Sophie: 2 messages, 23:50 — “b”",
        ),
        (
            "erased text: the stored preview is used",
            [msg("Sophie", "23:50", "", preview="are you awake?")],
            "preview",
            False,
            "While you were away: 1 message from Sophie",
            "Sophie: 1 message, 23:50 — “are you awake?”",
        ),
        (
            "erased text and no preview: no quote at all",
            [msg("Sophie", "23:50", "")],
            "preview",
            False,
            "While you were away: 1 message from Sophie",
            "Sophie: 1 message, 23:50",
        ),
        (
            "a long message is cut to 80 characters, on one line",
            [msg("Sophie", "23:50", "word\n" * 30)],
            "preview",
            False,
            "While you were away: 1 message from Sophie",
            "Sophie: 1 message, 23:50 — “" + ("word " * 16)[:79] + "…”",
        ),
        (
            "Markdown in names and text is shown, not obeyed",
            [msg("So_phie*", "23:50", "see [this](http://x) <b>now</b>")],
            "preview",
            True,
            "While you were away: 1 message from So_phie*",
            r"- **So\_phie\***: 1 message, 23:50 — “see \[this\](http://x) \<b\>now\</b\>”",
        ),
        (
            "a very long name is shortened in the title, not in the body",
            [msg("Sophie " + "van der Berg-" * 5, "23:50", "x")],
            "senders",
            False,
            "While you were away: 1 message from Sophie van der Berg-van…",
            "Sophie " + "van der Berg-" * 5 + ": 1 message, 23:50",
        ),
        (
            "nothing held",
            [],
            "senders",
            False,
            "While you were away: no new messages",
            "Nothing is waiting.",
        ),
    ],
)
def test_summary(
    story: str, items: list[Item], level: str, markdown: bool, title: str, body: str
) -> None:
    rendered = render_summary(items, level, AMS, markdown=markdown)
    assert (rendered.title, rendered.body) == (title, body), story
    assert rendered.notify_type == "info"
    assert rendered.body_format == ("markdown" if markdown else "text")
    assert len(rendered.title) <= TITLE_CHARS


def crowd() -> list[Item]:
    """Eleven people write one after another; Sophie also writes in Class 3B, late."""
    names = [f"Friend{chr(ord('A') + n)}" for n in range(10)]
    items = [msg(name, f"21:{n:02d}", f"text {n}") for n, name in enumerate(names)]
    items += [msg("FriendA", "21:30", "again"), msg("FriendA", "21:31", "and again")]
    items.append(msg("Sophie", "20:00", "first of all"))
    items.append(msg("Sophie", "22:00", "latest", "whatsapp", chat="Class 3B"))
    return items


@pytest.mark.parametrize(
    ("level", "markdown", "first", "last"),
    [
        (
            "counts",
            False,
            "A group chat: 1 message from 1 person, 22:00",
            "and 4 more from 4 people",
        ),
        ("senders", False, "Sophie in Class 3B: 1 message, 22:00", "and 4 more from 4 people"),
        (
            "preview",
            False,
            "Sophie in Class 3B: 1 message, 22:00 — “latest”",
            "and 4 more from 4 people",
        ),
        (
            "senders",
            True,
            "- **Sophie** in **Class 3B**: 1 message, 22:00",
            "- and 4 more from 4 people",
        ),
    ],
)
def test_at_most_eight_groups_then_the_rest_counted(
    level: str, markdown: bool, first: str, last: str
) -> None:
    # Newest first: Class 3B (22:00), FriendA (3 messages, last 21:31), FriendJ..FriendE;
    # left over: FriendD, FriendC, FriendB and Sophie's private 20:00, one message each.
    items = crowd()
    rendered = render_summary(items, level, AMS, markdown=markdown)
    lines = rendered.body.splitlines()
    assert len(lines) == MAX_GROUPS + 1
    assert lines[0] == first
    assert lines[-1] == last
    assert rendered.title == "While you were away: 14 messages from 11 people"
    shown = sum(int(re.findall(r"(\d+) messages?", line)[0]) for line in lines[:-1])
    assert shown + 4 == len(items)


def test_the_rest_counts_people_once_across_their_groups() -> None:
    # Eight one-person groups shown, and Noor twice in the rest: privately and in a chat.
    items = [msg(f"Friend{chr(ord('A') + n)}", f"22:{n:02d}", "x") for n in range(8)]
    items += [
        msg("Noor", "20:00", "a"),
        msg("Noor", "20:05", "b", "whatsapp", chat="Class 3B"),
        msg("Sophie", "20:06", "c", "whatsapp", chat="Class 3B"),
    ]
    rendered = render_summary(items, "senders", AMS)
    assert rendered.body.splitlines()[-1] == "and 3 more from 2 people"


def test_group_items_keeps_the_structure() -> None:
    [chat, sophie, noor] = group_items(
        [*SCHOOL_NIGHT, msg("Noor", "23:45", "x", "whatsapp", chat="Class 3B")]
    )
    assert (chat.label, chat.group_chat, chat.conversation) == (
        "Noor in Class 3B",
        True,
        "Class 3B",
    )
    assert (sophie.label, sophie.count, sophie.first, sophie.last) == (
        "Sophie",
        3,
        at("23:00"),
        at("23:40"),
    )
    assert sophie.newest_text == "ok good night"
    assert noor.sender_keys == frozenset({"contact:noor"})


# -- forwards and breakthroughs ------------------------------------------------------------

PRIVATE = msg("Sophie", "16:00", "see you tomorrow")
IN_CHAT = msg("Sophie", "16:00", "homework?", "whatsapp", chat="Class 3B")
ERASED = msg("Sophie", "16:00", "", preview="see you tomorrow")


@pytest.mark.parametrize(
    ("story", "item", "level", "title", "body"),
    [
        ("numbers only", PRIVATE, "counts", "New message", "You have 1 new message."),
        ("who, no text", PRIVATE, "senders", "Sophie (sms)", "New message from Sophie."),
        ("the text", PRIVATE, "preview", "Sophie (sms)", "see you tomorrow"),
        ("a chat at counts", IN_CHAT, "counts", "New message", "You have 1 new message."),
        (
            "a chat names itself",
            IN_CHAT,
            "senders",
            "Sophie in Class 3B (whatsapp)",
            "New message from Sophie in Class 3B.",
        ),
        ("a chat with text", IN_CHAT, "preview", "Sophie in Class 3B (whatsapp)", "homework?"),
        ("erased text, stored preview", ERASED, "preview", "Sophie (sms)", "see you tomorrow"),
        (
            "no text at all",
            msg("Sophie", "16:00", "  "),
            "preview",
            "Sophie (sms)",
            "New message from Sophie.",
        ),
    ],
)
def test_forward(story: str, item: Item, level: str, title: str, body: str) -> None:
    assert render_forward(item, level) == Rendered(title, body), story


GRANDMA = msg("Grandma", "23:10", "I fell, I am in the hospital, call me")


@pytest.mark.parametrize(
    ("story", "level", "reason", "title", "body"),
    [
        (
            "trusted, numbers only",
            "counts",
            "trusted contact",
            "Urgent message",
            "You have 1 urgent message. Broke through quiet hours: a trusted contact.",
        ),
        (
            "keyword, numbers only: the keyword is not said",
            "counts",
            "keyword “hospital”",
            "Urgent message",
            "You have 1 urgent message. Broke through quiet hours: an emergency keyword.",
        ),
        (
            "repeated contact, numbers only",
            "counts",
            "repeated contact: 3 messages in 5 min",
            "Urgent message",
            "You have 1 urgent message. Broke through quiet hours: repeated contact.",
        ),
        (
            "a reason we do not know is not repeated at counts",
            "counts",
            "Grandma said so",
            "Urgent message",
            "You have 1 urgent message. Broke through quiet hours: a breakthrough rule.",
        ),
        (
            "trusted, with who",
            "senders",
            "trusted contact",
            "Urgent: Grandma (sms)",
            "Urgent message from Grandma.\nBroke through quiet hours: trusted contact.",
        ),
        (
            "keyword, with who",
            "senders",
            "keyword “hospital”",
            "Urgent: Grandma (sms)",
            "Urgent message from Grandma.\nBroke through quiet hours: keyword “hospital”.",
        ),
        (
            "repeated contact, with the text",
            "preview",
            "repeated contact: 3 messages in 5 min",
            "Urgent: Grandma (sms)",
            "I fell, I am in the hospital, call me\n"
            "Broke through quiet hours: repeated contact: 3 messages in 5 min.",
        ),
    ],
)
def test_breakthrough(story: str, level: str, reason: str, title: str, body: str) -> None:
    rendered = render_breakthrough(GRANDMA, level, reason)
    assert rendered == Rendered(title, body, "warning"), story


@pytest.mark.parametrize(
    ("level", "body"),
    [
        ("counts", "You have 1 urgent message. Sent at once: a trusted contact."),
        ("senders", "Urgent message from Grandma.\nSent at once: trusted contact."),
    ],
)
def test_breakthrough_outside_quiet_hours(level: str, body: str) -> None:
    rendered = render_breakthrough(GRANDMA, level, "trusted contact", quiet=False)
    assert rendered == Rendered(
        "Urgent message" if level == "counts" else "Urgent: Grandma (sms)", body, "warning"
    )


@pytest.mark.parametrize(
    ("reason", "level", "shown"),
    [
        ("Keyword “Notfall”", "counts", "an emergency keyword"),
        ("  trusted contact", "counts", "a trusted contact"),
        ("keyword “Notfall”", "senders", "keyword “Notfall”"),
        ("keyword “Notfall”", "preview", "keyword “Notfall”"),
    ],
)
def test_reason_at_level(reason: str, level: str, shown: str) -> None:
    assert reason_at_level(reason, level) == shown


# -- burst notices and storm alerts --------------------------------------------------------


@pytest.mark.parametrize(
    ("story", "level", "count", "first", "last", "final", "title", "body"),
    [
        (
            "numbers only",
            "counts",
            12,
            "22:10",
            "22:31",
            False,
            "More messages",
            "12 more messages from 1 person, 22:10–22:31.",
        ),
        (
            "with who",
            "senders",
            12,
            "22:10",
            "22:31",
            False,
            "More messages from Sophie",
            "Sophie sent 12 more messages, 22:10–22:31.",
        ),
        (
            "preview adds nothing: a notice has no text",
            "preview",
            12,
            "22:10",
            "22:31",
            False,
            "More messages from Sophie",
            "Sophie sent 12 more messages, 22:10–22:31.",
        ),
        (
            "the last notice",
            "senders",
            3,
            "22:40",
            "22:44",
            True,
            "More messages from Sophie",
            "Sophie sent 3 more messages, 22:40–22:44 (burst over).",
        ),
        (
            "one message, numbers only, last notice",
            "counts",
            1,
            "22:40",
            "22:40",
            True,
            "More messages",
            "1 more message from 1 person, 22:40 (burst over).",
        ),
        (
            "across midnight",
            "senders",
            30,
            "23:50",
            "2026-11-26 00:15",
            False,
            "More messages from Sophie",
            "Sophie sent 30 more messages, Wed 23:50–Thu 00:15.",
        ),
    ],
)
def test_burst_notice(
    story: str,
    level: str,
    count: int,
    first: str,
    last: str,
    final: bool,
    title: str,
    body: str,
) -> None:
    rendered = render_burst_notice("Sophie", count, at(first), at(last), AMS, level, final=final)
    assert rendered == Rendered(title, body), story


@pytest.mark.parametrize(
    ("story", "level", "first", "last", "title", "body"),
    [
        (
            "numbers only",
            "counts",
            "23:00",
            "23:25",
            "Many messages for Mia tonight",
            "Mia received 20 messages from one person between 23:00 and 23:25.",
        ),
        (
            "with who",
            "senders",
            "23:00",
            "23:25",
            "Many messages for Mia tonight",
            "Sophie sent Mia 20 messages between 23:00 and 23:25.",
        ),
        (
            "preview: the same, a storm alert carries no text",
            "preview",
            "23:00",
            "23:25",
            "Many messages for Mia tonight",
            "Sophie sent Mia 20 messages between 23:00 and 23:25.",
        ),
        (
            "a school-hours storm",
            "senders",
            "10:00",
            "10:20",
            "Many messages for Mia this morning",
            "Sophie sent Mia 20 messages between 10:00 and 10:20.",
        ),
        (
            "across midnight",
            "counts",
            "23:50",
            "2026-11-26 00:15",
            "Many messages for Mia tonight",
            "Mia received 20 messages from one person between Wed 23:50 and Thu 00:15.",
        ),
    ],
)
def test_storm_alert(story: str, level: str, first: str, last: str, title: str, body: str) -> None:
    rendered = render_storm_alert("Mia", "Sophie", 20, at(first), at(last), AMS, level)
    assert rendered == Rendered(title, body, "warning"), story


# -- guardian reports ----------------------------------------------------------------------


def mia(level: str) -> ChildActivity:
    """Mia's night: a friend in crisis, Grandma's emergency, a dead ntfy channel."""
    return ChildActivity(
        name="Mia",
        level=level,
        passed=3,
        held=40,
        quiet_activity=41,
        bursts=[EpisodeNote("Sophie", 12, at("22:10"), at("22:31"))],
        storms=[EpisodeNote("Sophie", 20, at("23:00"), at("23:25"))],
        breakthroughs=[BreakthroughNote("Grandma", "keyword “hospital”", at("23:10"))],
        failed_channels=["ntfy://n/****"],
        held_items=[
            msg("Sophie", "23:00", "are you awake"),
            msg("Sophie", "23:25", "please answer"),
            msg("Noor", "23:30", "homework?", "whatsapp", chat="Class 3B"),
        ],
    )


def tom(level: str) -> ChildActivity:
    """A quiet night for Tom."""
    return ChildActivity("Tom", level, 0, 0, 0, (), (), (), ())


@pytest.mark.parametrize(
    ("story", "children", "markdown", "title", "body"),
    [
        (
            "numbers only: someone, one person, why without the keyword",
            [mia("counts")],
            False,
            "Guardian report: Mia",
            "Mia\n"
            "3 notifications passed, 40 held.\n"
            "41 messages during quiet hours.\n"
            "Burst: someone sent 12 messages, 22:10–22:31.\n"
            "Storm: one person sent 20 messages, 23:00–23:25.\n"
            "Broke through at 23:10 (an emergency keyword).\n"
            "Failed channels: ntfy://n/****.",
        ),
        (
            "with who: names, reasons and the groups waiting",
            [mia("senders")],
            False,
            "Guardian report: Mia",
            "Mia\n"
            "3 notifications passed, 40 held.\n"
            "41 messages during quiet hours.\n"
            "Burst: Sophie sent 12 messages, 22:10–22:31.\n"
            "Storm: Sophie sent 20 messages, 23:00–23:25.\n"
            "Broke through at 23:10: Grandma (keyword “hospital”).\n"
            "Failed channels: ntfy://n/****.\n"
            "Waiting:\n"
            "  Noor in Class 3B: 1 message, 23:30\n"
            "  Sophie: 2 messages, 23:00–23:25",
        ),
        (
            "with previews of what is waiting",
            [mia("preview")],
            False,
            "Guardian report: Mia",
            "Mia\n"
            "3 notifications passed, 40 held.\n"
            "41 messages during quiet hours.\n"
            "Burst: Sophie sent 12 messages, 22:10–22:31.\n"
            "Storm: Sophie sent 20 messages, 23:00–23:25.\n"
            "Broke through at 23:10: Grandma (keyword “hospital”).\n"
            "Failed channels: ntfy://n/****.\n"
            "Waiting:\n"
            "  Noor in Class 3B: 1 message, 23:30 — “homework?”\n"
            "  Sophie: 2 messages, 23:00–23:25 — “please answer”",
        ),
        (
            "two children, each at their own level, in Markdown",
            [mia("senders"), tom("counts")],
            True,
            "Guardian report: Mia and Tom",
            "**Mia**\n"
            "- 3 notifications passed, 40 held.\n"
            "- 41 messages during quiet hours.\n"
            "- Burst: **Sophie** sent 12 messages, 22:10–22:31.\n"
            "- Storm: **Sophie** sent 20 messages, 23:00–23:25.\n"
            "- Broke through at 23:10: **Grandma** (keyword “hospital”).\n"
            "- Failed channels: ntfy://n/\\*\\*\\*\\*.\n"
            "- Waiting:\n"
            "  - **Noor** in **Class 3B**: 1 message, 23:30\n"
            "  - **Sophie**: 2 messages, 23:00–23:25\n"
            "\n"
            "**Tom**\n"
            "- 0 notifications passed, 0 held.\n"
            "- No messages during quiet hours.",
        ),
        (
            "three children share a report time",
            [tom("counts"), tom("senders"), tom("preview")],
            False,
            "Guardian report: Tom, Tom and Tom",
            "\n\n".join(
                ["Tom\n0 notifications passed, 0 held.\nNo messages during quiet hours."] * 3
            ),
        ),
        (
            "so many children that the title only counts them",
            [
                ChildActivity(f"Child number {n}", "counts", 1, 0, 0, (), (), (), ())
                for n in range(4)
            ],
            False,
            "Guardian report: 4 children",
            "\n\n".join(
                f"Child number {n}\n1 notification passed, 0 held.\nNo messages during quiet hours."
                for n in range(4)
            ),
        ),
        ("no children", [], False, "Guardian report", "Nothing to report."),
    ],
)
def test_report(
    story: str, children: list[ChildActivity], markdown: bool, title: str, body: str
) -> None:
    rendered = render_report(children, AMS, markdown=markdown)
    assert (rendered.title, rendered.body) == (title, body), story
    assert rendered.body_format == ("markdown" if markdown else "text")
    assert rendered.notify_type == "info"


# -- privacy: what each level forbids appears nowhere --------------------------------------

NAMES = ["Sophie", "Noor", "Grandma"]
CHAT = "Class 3B"
KEYWORD = "hospital"
NIGHT = [
    msg("Sophie", "23:00", "I cannot stop crying"),
    msg("Sophie", "23:20", "please pick up", "telegram"),
    msg("Noor", "23:30", "did you see Sophie's story", "whatsapp", chat=CHAT),
    msg("Grandma", "23:40", "", preview="I am in the hospital"),
]
TEXTS = ["I cannot stop crying", "please pick up", "did you see Sophie's story"]
PREVIEWS = ["I am in the hospital"]
OLDER_TEXTS = ["I cannot stop crying"]  # not the newest of its group: never shown
REASON = f"keyword “{KEYWORD}”"


def night_report(level: str, markdown: bool) -> Rendered:
    child = ChildActivity(
        "Mia",
        level,
        1,
        4,
        4,
        [EpisodeNote("Sophie", 5, at("22:00"), at("22:10"))],
        [EpisodeNote("Noor", 20, at("23:00"), at("23:30"))],
        [BreakthroughNote("Grandma", REASON, at("23:40"))],
        ["mailto://m/****"],
        NIGHT,
    )
    return render_report([child], AMS, markdown=markdown)


RENDERERS: dict[str, Callable[[str], Rendered]] = {
    "forward": lambda level: render_forward(NIGHT[1], level),
    "forward in a chat": lambda level: render_forward(NIGHT[2], level),
    "breakthrough": lambda level: render_breakthrough(
        msg("Grandma", "23:40", "take me to the hospital"), level, REASON
    ),
    "summary": lambda level: render_summary(NIGHT, level, AMS),
    "summary in Markdown": lambda level: render_summary(NIGHT, level, AMS, markdown=True),
    "burst notice": lambda level: render_burst_notice(
        "Sophie", 5, at("22:00"), at("22:10"), AMS, level, final=True
    ),
    "storm alert": lambda level: render_storm_alert(
        "Mia", "Sophie", 20, at("23:00"), at("23:30"), AMS, level
    ),
    "report": lambda level: night_report(level, markdown=False),
    "report in Markdown": lambda level: night_report(level, markdown=True),
}

# What each level may never show, and (so the test is not vacuous) what it must show somewhere.
FORBIDDEN = {
    "counts": [*NAMES, CHAT, KEYWORD, *TEXTS, *PREVIEWS, "take me to the hospital"],
    "senders": [*TEXTS, *PREVIEWS, "take me to the hospital"],
    "preview": OLDER_TEXTS,
}


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("renderer", sorted(RENDERERS))
def test_nothing_beyond_the_level_is_shown(renderer: str, level: str) -> None:
    rendered = RENDERERS[renderer](level)
    assert leaks(rendered, FORBIDDEN[level]) == []
    assert len(rendered.title) <= TITLE_CHARS
    if level != "counts":
        assert leaks(rendered, NAMES), "who is shown from `senders` on"


@pytest.mark.parametrize(
    "renderer", ["summary", "summary in Markdown", "report", "report in Markdown"]
)
def test_previews_show_the_newest_message_of_each_group(renderer: str) -> None:
    shown = leaks(RENDERERS[renderer]("preview"), [*TEXTS, *PREVIEWS])
    assert shown == ["please pick up", "did you see Sophie's story", "I am in the hospital"]


def test_no_report_title_names_a_contact() -> None:
    for level in LEVELS:
        assert leaks(Rendered(night_report(level, False).title, ""), NAMES) == []


@pytest.mark.parametrize(
    ("rendered", "forbidden", "found"),
    [
        (Rendered("t", "hello Sophie"), ["sophie", "Noor"], ["sophie"]),
        (Rendered("t", r"— “a \*b\*”"), ["a *b*"], ["a *b*"]),
        (Rendered("t", "“" + "x" * 79 + "…”"), ["x" * 200], ["x" * 200]),
        (Rendered("t", "two words"), ["two\n  words", "  "], ["two\n  words"]),
    ],
)
def test_leaks_finds_every_rendered_form(
    rendered: Rendered, forbidden: list[str], found: list[str]
) -> None:
    assert leaks(rendered, forbidden) == found


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown privacy level"):
        render_summary(NIGHT, "everything", AMS)
    with pytest.raises(ValueError, match="unknown privacy level"):
        render_report([tom("all")], AMS)


def test_a_naive_time_is_refused() -> None:
    naive = Item("contact:sophie", "Sophie", "sms", "x", datetime(2026, 11, 25, 23, 0))
    with pytest.raises(ValueError, match="naive"):
        render_summary([naive], "counts", AMS)


# -- property: every held item is counted, nothing beyond the level ------------------------

PEOPLE = ["Sophie", "Noor", "Daan", "Lotte", "Grandma", "Yusuf", "Eva", "Bram", "Fenna", "Jip"]
CHATS = ["Class 3B", "Football", "Cousins"]
START = at("2026-11-25 21:00")


@st.composite
def an_item(draw: st.DrawFn) -> Item:
    who = draw(st.sampled_from(PEOPLE))
    network = draw(st.sampled_from(["sms", "whatsapp", "telegram"]))
    known = draw(st.booleans())
    chat = draw(st.none() | st.sampled_from(CHATS))
    erased = draw(st.booleans())
    text = "Qj" + draw(st.text(max_size=120))  # "qj" appears in no name and no fixed word
    return Item(
        sender_key=f"contact:{who}" if known else f"{network}:{who}",
        sender_label=who,
        network=network,
        text="" if erased else text,
        at=START + timedelta(minutes=draw(st.integers(0, 60 * 30))),
        conversation=chat,
        conversation_key=f"{network}:{chat}" if chat else None,
        group=chat is not None,
        preview=text[:80] if erased else None,
    )


@settings(max_examples=300, deadline=None)
@given(
    held=st.lists(an_item(), min_size=1, max_size=40),
    level=st.sampled_from(LEVELS),
    markdown=st.booleans(),
)
def test_every_held_item_is_counted_and_nothing_beyond_the_level_shows(
    held: list[Item], level: str, markdown: bool
) -> None:
    rendered = render_summary(held, level, AMS, markdown=markdown)

    title_count = re.search(r"(\d+) messages?", rendered.title)
    assert title_count is not None and int(title_count[1]) == len(held)
    lines = rendered.body.splitlines()
    assert len(lines) <= MAX_GROUPS + 1
    counted = 0
    for line in lines:
        before_preview = line.split(" — “")[0]
        number = re.search(r"(\d+) (?:more|messages?)\b", before_preview)
        assert number is not None, line
        counted += int(number[1])
    assert counted == len(held)
    assert len(rendered.title) <= TITLE_CHARS

    texts = [i.text or i.preview or "" for i in held]
    forbidden = {
        "counts": [*PEOPLE, *CHATS, *texts],
        "senders": texts,
        "preview": [],
    }[level]
    assert leaks(rendered, forbidden) == []


def test_report_names_silent_sources_at_every_level() -> None:
    for level in ("counts", "senders", "preview"):
        child = ChildActivity(
            "Mia", level, 0, 0, 0, [], [], [], [], silent_sources=[("mia-phone", at("22:00"))]
        )
        body = render_report([child], AMS).body
        assert "Silent source: mia-phone, no message since" in body, level
