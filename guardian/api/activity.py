"""The admin API: activity, how many notifications arrived per local hour, and which hours were
quiet hours (counts only: no sender, no text); and a child's transparency page, what their
guardians see about them and when, in plain sentences from the real policy.

The hours run from local midnight `days - 1` days ago to the coming local midnight, so they
line up as days × hours. A day of a clock change has 23 or 25 hours; each hour starts at a real
UTC instant, one hour after the one before.

The activity and the child's transparency page are one area because the page shows the
activity as the child's guardians see it, with the same words, at their level.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, ValidationError

from guardian import i18n, privacy
from guardian.admin import Admin, AdminError
from guardian.api import Call, Endpoints
from guardian.durations import format_duration
from guardian.household import HouseholdView, MemberView
from guardian.i18n import N_, Language
from guardian.models import Delivery, Notification, PolicyEpoch
from guardian.policy import REPEATED
from guardian.policy_settings import PolicySettings
from guardian.setting_types import Level
from guardian.summary import (
    BreakthroughNote,
    ChildActivity,
    EpisodeNote,
    Item,
    render_forward,
    render_report,
)
from guardian.windows import (
    Ambiguity,
    Interval,
    Override,
    QuietPart,
    days_label,
    occurrences,
    resolve_local,
)
from guardian.words import DeliveryKind, DeliveryStatus, Role

endpoints = Endpoints("activity")
HOUR = timedelta(hours=1)


class ActivityHour(BaseModel):
    start: datetime = Field(description="the UTC instant at which this local hour starts")
    count: int
    quiet: bool = Field(description="some part of the hour lies in the member's quiet hours")


class ActivityDay(BaseModel):
    day: date = Field(description="a local date")
    messages: int = Field(description="notifications that came")
    interruptions: int = Field(
        description="deliveries that reached the member's phone (every one but a test, unless "
        "it failed)"
    )


class MemberActivity(BaseModel):
    member: str
    name: str
    role: str
    hours: list[ActivityHour]
    total: int
    days: list[ActivityDay] = Field(
        [], description="the calm it brought, per local day: messages and interruptions"
    )


class Activity(BaseModel):
    days: int
    members: list[MemberActivity]


class ActivityQuery(BaseModel):
    days: int = Field(7, ge=1, le=31)


def hour_starts(admin: Admin, days: int) -> list[datetime]:
    """Every local hour of the last `days` local days, today included, as UTC instants."""
    zone = admin.view.zone
    today = admin.now().astimezone(zone).date()
    start = resolve_local(today - timedelta(days=days - 1), time(0), zone, Ambiguity.EARLIER)
    end = resolve_local(today + timedelta(days=1), time(0), zone, Ambiguity.EARLIER)
    count = int((end - start) / HOUR)
    return [start + HOUR * n for n in range(count)]


def _quiet(hour: datetime, intervals: list[Interval]) -> bool:
    return any(i.start < hour + HOUR and hour < i.end for i in intervals)


async def quiet_in_force(
    member: MemberView, zone: ZoneInfo, start: datetime, end: datetime
) -> list[Interval]:
    """The member's quiet intervals in [start, end) by the policy in force at each time: a past
    day is shaded by the quiet hours it had then (guardian.models.PolicyEpoch), with the quick
    controls' overrides."""
    current = member.policy.windows()
    controls = [w for w in current if isinstance(w, Override)]
    spans: list[tuple[datetime, list[QuietPart]]] = []
    for epoch in await PolicyEpoch.filter(member_id=member.pk, since__gt=start).order_by(
        "since", "id"
    ):
        try:
            then = PolicySettings.model_validate(epoch.before or {})
        except ValidationError:  # a spec from an older version: the current one is the best guess
            then = member.policy
        spans.append((epoch.since, [*then.windows(), *controls]))
    spans.append((end, current))
    found: list[Interval] = []
    since = start
    for until, windows in spans:
        if until <= since:
            continue
        upto = min(until, end)
        for i in occurrences(windows, zone, since, upto):
            clipped = Interval(max(i.start, since), min(i.end, upto))
            if clipped.start < clipped.end:
                found.append(clipped)
        since = upto
        if since >= end:
            break
    return found


async def member_activity(
    admin: Admin, member: MemberView, hours: list[datetime]
) -> MemberActivity:
    start, end = hours[0], hours[-1] + HOUR
    received = await Notification.filter(
        member_id=member.pk, received_at__gte=start, received_at__lt=end
    ).values_list("received_at", flat=True)
    counts = [0] * len(hours)
    for instant in received:
        assert isinstance(instant, datetime)
        counts[int((instant - start) / HOUR)] += 1
    zone = admin.view.zone
    intervals = await quiet_in_force(member, zone, start, end)
    reached = (
        await Delivery.filter(member_id=member.pk, created_at__gte=start, created_at__lt=end)
        .exclude(kind=DeliveryKind.TEST)
        .exclude(status=DeliveryStatus.FAILED)
        .values_list("created_at", flat=True)
    )
    days: dict[date, list[int]] = {}
    for hour, n in zip(hours, counts, strict=True):
        days.setdefault(hour.astimezone(zone).date(), [0, 0])[0] += n
    for instant in reached:
        assert isinstance(instant, datetime)
        days.setdefault(instant.astimezone(zone).date(), [0, 0])[1] += 1
    return MemberActivity(
        member=member.id,
        name=member.name,
        role=member.role,
        hours=[
            ActivityHour(start=hour, count=n, quiet=_quiet(hour, intervals))
            for hour, n in zip(hours, counts, strict=True)
        ],
        total=sum(counts),
        days=[
            ActivityDay(day=day, messages=m, interruptions=i)
            for day, (m, i) in sorted(days.items())
        ],
    )


async def activity(admin: Admin, days: int = 7) -> Activity:
    """Notifications per local hour of every member over the last `days` days."""
    hours = hour_starts(admin, days)
    members = sorted(admin.view.members.values(), key=lambda m: (m.role != Role.CHILD, m.name))
    return Activity(days=days, members=[await member_activity(admin, m, hours) for m in members])


@endpoints.route("GET", "/activity", response=Activity, query=ActivityQuery)
async def activity_get(call: Call) -> Activity:
    """Notifications per local hour and member over the last days, with quiet hours marked."""
    return await activity(call.admin, call.query_as(ActivityQuery).days)


# -- transparency: what guardians see about a child, in plain sentences -----------------------

#: A made-up evening for the example report: the same date everywhere, no clock involved.
EXAMPLE_DAY = date(2026, 1, 14)


class BreakthroughRules(BaseModel):
    trusted_contacts: list[str] = Field(description="names of the household's trusted contacts")
    muted_contacts: list[str]
    keywords: list[str]
    repeated: str | None = Field(description="the repeated-contact rule, as a sentence")
    sentences: list[str]


class Transparency(BaseModel):
    member: str
    name: str
    quiet_hours: list[str] = Field(description="e.g. Sun–Thu 21:30–07:00 (local time)")
    summaries: list[str] = Field(description="extra summary times, besides quiet hours' end")
    report: str | None = Field(description="the time of the daily guardian report, if any")
    content: Level = Field(description="what the child's own summaries show")
    guardian_view: Level
    what_guardians_see: list[str]
    example_report: str | None = Field(
        description="a guardian's report at this level, from made-up data; none without reports"
    )
    example_on_the_dashboard: str = Field(
        description="a made-up message passed on to the child, as guardians see it on the "
        "dashboard, shown by the function that shows them the real ones"
    )
    breakthrough: BreakthroughRules
    storm: str | None
    retention_days: int
    retention: str


def spoken(delta: timedelta) -> str:
    """`5 minutes`, `1 hour 30 minutes`: a duration as a sentence says it."""
    seconds = int(delta.total_seconds())
    parts = []
    for size, word in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size:
            n, seconds = divmod(seconds, size)
            parts.append(f"{n} {word}" if n == 1 else f"{n} {word}s")
    return " ".join(parts) or "0 seconds"


def _hhmm(wall: time) -> str:
    return wall.strftime("%H:%M")


_SEEN_AT_LEVEL = {
    # Translators: the transparency page, to a child: what their guardians' daily report says.
    "counts": N_("It does not say who sent them, and not what they said."),
    "senders": N_(
        "It also says who sent them (names and group chat titles), but not what they said."
    ),
    "preview": N_(
        "It also says who sent them, and shows the first 80 characters of the newest "
        "message from each person or group chat whose messages were waiting."
    ),
}
#: The language of the API's sentences; the dashboard's transparency page asks for the child's.
ENGLISH = i18n.language(i18n.SOURCE_LANGUAGE)


def _spoken(t: Language, delta: timedelta) -> str:
    """A duration in a sentence of `t`: English as `spoken` says it, others as CLDR does."""
    return spoken(delta) if t.code == i18n.SOURCE_LANGUAGE else t.duration(delta)


def _listed(t: Language, names: list[str], conjunction: str = "and") -> str:
    if t.code == i18n.SOURCE_LANGUAGE or conjunction != "and":
        return _names(names, conjunction) if t.code == i18n.SOURCE_LANGUAGE else ", ".join(names)
    return t.list(names)


def _what_guardians_see(policy: PolicySettings, t: Language) -> list[str]:
    counts = policy.guardian_view == "counts"
    if policy.report is None:
        # Translators: the sentences of a child's transparency page speak to the child ("you").
        sentences = [t.gettext("Your guardians do not get a daily report about you.")]
    else:
        sentences = [
            # Translators: {time} is a time of day (21:00).
            t.gettext(
                "Every day at {time} your guardians get a short report about you, "
                "about the time since the last one.",
                time=_hhmm(policy.report),
            ),
            t.gettext(
                "It says how many messages you received, how many waited for a summary and how "
                "many were passed on at once, and how many arrived during quiet hours."
            ),
            t.gettext(_SEEN_AT_LEVEL[policy.guardian_view]),
            t.gettext(
                "If a message broke through quiet hours, it says when and why, but not who sent "
                "it or which word it was."
            )
            if counts
            else t.gettext(
                "If a message broke through quiet hours, it says when and why, and who sent it."
            ),
            t.gettext("If one of your channels could not be reached, it says which one."),
        ]
    storm = policy.storm
    if storm is not None and storm.alert_guardians:
        sentence = (
            # Translators: {count} is a number of messages, {within} a duration ("5 minutes").
            # A "storm" is so many messages from one person in so short a time (the page says so).
            N_(
                "If {count} messages come from one person within {within} during quiet hours, "
                "your guardians are told at once, without saying who, once per storm."
            )
            if counts
            else N_(
                "If {count} messages come from one person within {within} during quiet hours, "
                "your guardians are told at once, with the sender's name, once per storm."
            )
        )
        sentences.append(t.gettext(sentence, count=storm.count, within=_spoken(t, storm.within)))
    # Translators: {seen} is what guardians see, e.g. "how many messages came and when, but
    # not who sent them and not what they said".
    sentences.append(
        t.gettext(
            "On the dashboard, your guardians see the same of the messages waiting for you and "
            "of what Guardian sent you: {seen}.",
            seen=t.gettext(privacy.ON_THE_DASHBOARD[policy.guardian_view]),
        )
    )
    if policy.guardian_view == "preview":
        sentences.append(t.gettext("Your guardians never see more than this."))
    else:
        sentences.append(
            t.gettext("Your guardians never see more than this: never what your messages say.")
        )
    return sentences


def _breakthrough(
    view: HouseholdView, policy: PolicySettings, t: Language = ENGLISH
) -> BreakthroughRules:
    trusted = sorted(c.name for c in view.contacts.values() if c.trust == "trusted")
    muted = sorted(c.name for c in view.contacts.values() if c.trust == "muted")
    keywords = list(policy.breakthrough.keywords)
    repeated = policy.breakthrough.repeated
    rule = (
        f"{repeated.count} messages from the same person within {spoken(repeated.within)}"
        if repeated is not None
        else None
    )
    sentences = []
    if trusted:
        # Translators: {names} is a list of contacts' names ("Oma and Opa").
        sentences.append(
            t.gettext(
                "Messages from {names} always come through at once.", names=_listed(t, trusted)
            )
        )
    if keywords:
        # Translators: {words} is one or more quoted words, joined by "or" (“help” or “sos”).
        words = _listed(t, [f"“{k}”" for k in keywords], "or")
        sentences.append(
            t.gettext("A message with the word {words} comes through at once.", words=words)
        )
    if repeated is not None:
        # Translators: {count} is a number of messages, {within} a duration ("5 minutes").
        sentences.append(
            t.gettext(
                "When someone sends {count} messages from the same person within {within}, "
                "their message comes through at once.",
                count=repeated.count,
                within=_spoken(t, repeated.within),
            )
        )
    if not sentences:
        sentences.append(
            t.gettext("Nothing breaks through quiet hours: every message waits for them to end.")
        )
    if muted:
        sentences.append(
            t.gettext(
                "Messages from {names} are never pushed; they wait for the next summary.",
                names=_listed(t, muted),
            )
        )
    return BreakthroughRules(
        trusted_contacts=trusted,
        muted_contacts=muted,
        keywords=keywords,
        repeated=rule,
        sentences=sentences,
    )


def _names(names: list[str], conjunction: str = "and") -> str:
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"


#: The made-up evening of the transparency page's examples.
EXAMPLE_TEXTS = {
    # Translators: messages a child's friends might send, in the examples of the transparency
    # page (a guardian sees them only as Guardian shows them at the child's level).
    "homework": N_("did you finish the maths homework?"),
    "never mind": N_("ok never mind, see you tomorrow"),
    "video": N_("look at this video"),
    "training": N_("training moved to 16:00 on Friday"),
}
# Translators: the name of a group chat in the examples of the transparency page.
EXAMPLE_TEAM = N_("Football team")
# Translators: a trusted contact in the examples of the transparency page.
EXAMPLE_GRANDMA = N_("Grandma")


def example_report(child: MemberView, view: HouseholdView, t: Language = ENGLISH) -> str:
    """The report a guardian would get at the child's level, from a made-up evening, rendered
    by the same function that renders the real ones, in `t`'s language."""
    zone = view.zone
    team = t.gettext(EXAMPLE_TEAM)

    def evening(hour: int, minute: int) -> datetime:
        return datetime.combine(EXAMPLE_DAY, time(hour, minute), tzinfo=zone)

    def item(who: str, text: str, at: datetime, chat: str | None = None) -> Item:
        key = f"sms:{who.lower()}"
        said = t.gettext(EXAMPLE_TEXTS[text])
        return Item(key, who, "sms", said, at, chat, chat and f"sms:{chat}", chat is not None)

    held = [
        item("Alex", "homework", evening(22, 5)),
        item("Alex", "never mind", evening(22, 40)),
        item("Robin", "video", evening(21, 50), team),
        item("Kim", "training", evening(22, 15), team),
    ]
    policy = child.policy
    # The example breaks through the way a real message could, by the first rule there is;
    # its reason is written as the database keeps it, and told in `t` by the report.
    rules = policy.breakthrough
    reasons = [f"keyword “{k}”" for k in rules.keywords[:1]]
    if any(c.trust == "trusted" for c in view.contacts.values()):
        reasons.append("trusted contact")
    if rules.repeated is not None:
        within = format_duration(rules.repeated.within)
        reasons.append(f"{REPEATED}: {rules.repeated.count} messages within {within}")
    grandma = t.gettext(EXAMPLE_GRANDMA)
    breakthroughs = [BreakthroughNote(grandma, reason, evening(23, 10)) for reason in reasons[:1]]
    storms = []
    if policy.storm is not None:
        storms = [EpisodeNote("Alex", policy.storm.count, evening(22, 5), evening(22, 40))]
    sample = ChildActivity(
        name=child.name,
        level=policy.guardian_view,
        passed=6,
        held=len(held),
        quiet_activity=len(held) + 1,
        bursts=[],
        storms=storms,
        breakthroughs=breakthroughs,
        failed_channels=[],
        held_items=held,
    )
    rendered = render_report([sample], zone, language=t.code)
    return f"{rendered.title}\n\n{rendered.body}"


def dashboard_example(child: MemberView, view: HouseholdView, t: Language = ENGLISH) -> str:
    """A made-up message passed on to the child, as their guardians see it among the
    deliveries, by the function that shows them the real ones (guardian.privacy)."""
    zone = view.zone
    at = datetime.combine(EXAMPLE_DAY, time(16, 5), tzinfo=zone)
    item = Item("sms:alex", "Alex", "sms", t.gettext(EXAMPLE_TEXTS["homework"]), at)
    sent = render_forward(item, child.policy.content, language=t.code)
    level = privacy.delivery_level(None, child)
    forward = privacy.Sent(DeliveryKind.FORWARD, sent.title, sent.body)
    seen = privacy.shown(forward, level, [item], zone, language=t.code)
    return f"{seen.title}\n{seen.body}"


async def transparency(admin: Admin, member_id: str, t: Language = ENGLISH) -> Transparency:
    """What a child's guardians see about them, and when, from the child's real policy, in
    sentences of `t` (the API's are English; the dashboard's page is in the child's language)."""
    member = admin.member(member_id)
    if member.role != Role.CHILD:
        raise AdminError(
            409,
            "not_a_child",
            f"{member.id} is a {member.role}: transparency pages are for children",
        )
    policy = member.policy
    return Transparency(
        member=member.id,
        name=member.name,
        quiet_hours=[
            f"{days_label(q.window().days, t)} {_hhmm(q.start)}–{_hhmm(q.end)}"
            for q in policy.quiet
        ],
        summaries=[_hhmm(t) for t in policy.summaries],
        report=_hhmm(policy.report) if policy.report else None,
        content=policy.content,
        guardian_view=policy.guardian_view,
        what_guardians_see=_what_guardians_see(policy, t),
        example_report=example_report(member, admin.view, t) if policy.report else None,
        example_on_the_dashboard=dashboard_example(member, admin.view, t),
        breakthrough=_breakthrough(admin.view, policy, t),
        storm=_storm(policy, t),
        retention_days=policy.retention,
        retention=t.ngettext(
            "Guardian keeps the text of a message only until it has been passed on or "
            "summarised; after that only who sent it and when, for {n} day.",
            "Guardian keeps the text of a message only until it has been passed on or "
            "summarised; after that only who sent it and when, for {n} days.",
            policy.retention,
        ),
    )


def _storm(policy: PolicySettings, t: Language = ENGLISH) -> str | None:
    storm = policy.storm
    if storm is None:
        return None
    if storm.alert_guardians:
        # Translators: a "storm" is many messages from one person in a short time; the sentence
        # explains the word. {count} is a number of messages, {within} a duration ("5 minutes").
        sentence = N_(
            "When {count} or more messages come from one person within {within} during quiet "
            "hours, that is a storm: your guardians are told at once."
        )
    else:
        sentence = N_(
            "When {count} or more messages come from one person within {within} during quiet "
            "hours, that is a storm: it is mentioned in your guardians' report."
        )
    return t.gettext(sentence, count=storm.count, within=_spoken(t, storm.within))


@endpoints.route("GET", "/members/{member_id}/transparency", response=Transparency)
async def activity_transparency(call: Call) -> Transparency:
    """What a child's guardians see about them, and when, in plain sentences."""
    return await transparency(call.admin, call.path["member_id"])
