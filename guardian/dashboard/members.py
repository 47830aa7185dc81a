"""Dashboard pages: members, their channels, and their policies (quiet hours on a week grid).

Every read and change goes through `guardian.api.members`, the same functions as the API.
The policy form is most of it: a week grid of quiet hours, read back into the settings' shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import ValidationError

from guardian.admin import Admin, AdminError, invalid
from guardian.api import members as api
from guardian.api.tonight import quiet_state
from guardian.api.users import user_list
from guardian.dashboard import admin_of, error_page, page_language, render
from guardian.dashboard.channel_forms import BY_ID, RAW, SERVICES, build, describe, kept
from guardian.dashboard.forms import confirmed, first_error, plain_detail, plain_errors
from guardian.i18n import LANGUAGES, N_, NAMES
from guardian.overrides import ONE_HOUR
from guardian.policy_settings import PolicySettings
from guardian.windows import DAY_LABELS, DAY_NAMES, occurrences, parse_days

routes = web.RouteTableDef()

LEVELS = (
    # Translators: what a level of privacy shows (after its name and a colon).
    ("counts", N_("only how many messages, from how many people.")),
    ("senders", N_("who wrote and in which conversation, no message text.")),
    ("preview", N_("senders plus the start of each message.")),
)
LEVEL_NAMES = {
    # Translators: the names of the levels of privacy: what guardians (or the member) see.
    "counts": N_("Counts only"),
    "senders": N_("Who wrote"),
    "preview": N_("Who wrote and a preview"),
}
#: A Monday, in UTC: the week the grid draws. Wall-clock quiet hours, without a zone's DST.
_WEEK = datetime(2024, 1, 1, tzinfo=UTC)
_UTC = ZoneInfo("UTC")


# --- the week grid -----------------------------------------------------------------------------


@dataclass(frozen=True)
class QuietSpan:
    """Quiet from minute `start` to minute `end` (0-1440) of one weekday."""

    start: int
    end: int

    @property
    def label(self) -> str:
        return f"{_clock(self.start)}–{_clock(self.end)}"


@dataclass(frozen=True)
class QuietDay:
    day: int
    spans: tuple[QuietSpan, ...]

    @property
    def name(self) -> str:
        return DAY_LABELS[self.day]

    @property
    def summary(self) -> str:
        return ", ".join(s.label for s in self.spans) or "no quiet hours"


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def quiet_week(policy: PolicySettings) -> list[QuietDay]:
    """The policy's quiet hours per weekday, as guardian.windows computes them: a window that
    crosses midnight goes on into the next day (Sunday's into Monday), overlaps are merged."""
    end = _WEEK + timedelta(days=7)
    spans: list[list[QuietSpan]] = [[] for _ in range(7)]
    for interval in occurrences(policy.windows(), _UTC, _WEEK, end):
        start, stop = max(interval.start, _WEEK), min(interval.end, end)
        while start < stop:
            day = (start - _WEEK).days
            midnight = _WEEK + timedelta(days=day + 1)
            piece = min(stop, midnight)
            minutes = int((start - _WEEK - timedelta(days=day)).total_seconds() // 60)
            length = int((piece - start).total_seconds() // 60)
            spans[day].append(QuietSpan(minutes, minutes + length))
            start = piece
    # Sunday night's window that wraps into Monday morning is found before the week starts:
    # occurrences() looks back, so Monday's early hours are in `spans[0]` already.
    return [QuietDay(day, tuple(sorted(spans[day], key=lambda s: s.start))) for day in range(7)]


# --- members -----------------------------------------------------------------------------------


@routes.get("/members")
async def members_page(request: web.Request) -> web.Response:
    admin = admin_of(request)
    return render(
        request,
        "members.html",
        {
            "members": api.list_members(admin).items,
            # As the API writes them: times as `21:30`.
            "policies": api.list_policies(admin).model_dump(mode="json")["items"],
            "describe": describe,
        },
    )


async def _member_page(
    request: web.Request,
    member_id: str,
    *,
    status: int = 200,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    service: str = "",
    typed: dict[str, str] | None = None,
    channel_errors: dict[str, str] | None = None,
    removing: str = "",
) -> web.Response:
    """The member's page; after a refused channel form, `service` names that form, `typed`
    holds what was typed into it (never its secrets) and `channel_errors` its errors."""
    admin = admin_of(request)
    try:
        member = api.get_member(admin, member_id)
    except AdminError as error:
        return error_page(request, error)
    tests = await api.last_tests(admin, admin.member(member_id))
    quiet = await quiet_state(admin, admin.member(member_id))  # the quick controls
    logins = [u for u in (await user_list(admin)).items if u.member == member_id]
    problems = errors or {}
    channel_problems = channel_errors or {}
    focus = first_error(problems, ("name", "policy", "language"))
    if focus is None and channel_problems:
        order = [f.name for f in BY_ID[service].fields] if service in BY_ID else [RAW]
        focus = first_error(channel_problems, ["form", *order], f"{service}-")
    if focus is None and removing:
        focus = f"remove-{removing}-confirm"
    return render(
        request,
        "members_edit.html",
        {
            "member": member,
            "policies": sorted(admin.view.policies),
            "languages": [(code, NAMES[code]) for code in LANGUAGES],
            "household_language": NAMES[admin.view.language],
            "form": form or _member_form(member),
            "errors": problems,
            "tests": tests,
            "tested": request.query.get("tested", ""),
            "saved": request.query.get("saved", ""),
            "quiet": quiet.quiet,
            "logins": logins,
            "quiet_changed": request.query.get("quiet") == "changed",
            "one_hour": ONE_HOUR,
            "services": SERVICES,
            "service": service,
            "typed": typed or {},
            "channel_errors": channel_problems,
            "removing": removing,
            "describe": describe,
            "focus": focus,
        },
        status=status,
    )


def _member_form(member: api.MemberOut) -> dict[str, str]:
    return {"name": member.name, "policy": member.policy or "", "language": member.language or ""}


@routes.get("/members/{member_id}")
async def member_page(request: web.Request) -> web.Response:
    return await _member_page(request, request.match_info["member_id"])


@routes.post("/members/{member_id}")
async def member_save(request: web.Request) -> web.StreamResponse:
    member_id = request.match_info["member_id"]
    data = await request.post()
    form = {
        "name": str(data.get("name", "")).strip(),
        "policy": str(data.get("policy", "")),
        "language": str(data.get("language", "")),
    }
    try:
        fields: dict[str, str | None] = {"name": form["name"], "policy": form["policy"] or None}
        if "language" in data:  # "": the household's language
            fields["language"] = form["language"] or None
        patch = api.MemberPatch.model_validate(fields)
        await api.update_member(admin_of(request), member_id, patch)
    except ValidationError as error:
        problems = plain_errors(error, t=page_language(request))
        return await _member_page(request, member_id, status=422, form=form, errors=problems)
    except AdminError as error:
        if error.status != 422:
            return error_page(request, error)
        t = page_language(request)
        problems = {name: plain_detail(message, t) for name, message in error.fields.items()}
        return await _member_page(request, member_id, status=422, form=form, errors=problems)
    raise web.HTTPSeeOther(f"/members/{member_id}?saved=member")


@routes.post("/members/{member_id}/channels")
async def channel_add(request: web.Request) -> web.StreamResponse:
    member_id = request.match_info["member_id"]
    posted = {key: str(value) for key, value in (await request.post()).items()}
    service = posted.get("service", RAW)
    if service not in BY_ID:
        service = RAW
    typed = kept(service, posted) if service in BY_ID else {}
    try:
        if service == RAW:
            url = posted.get("url", "").strip()
            if not url:
                message = N_("Fill in the channel's Apprise URL, or use one of the forms above.")
                raise AdminError(422, "invalid", message, {"url": message})
        else:
            built, problems = build(service, posted)
            if built is None:
                raise AdminError(422, "invalid", "; ".join(problems.values()), problems)
            url = built
        await api.add_channel(admin_of(request), member_id, url)
    except AdminError as error:
        if error.status == 404:
            return error_page(request, error)
        problems = dict(error.fields or {"form": error.detail})
        if service != RAW and "url" in problems:  # refused as a whole: said above the form
            problems["form"] = problems.pop("url")
        t = page_language(request)
        plain = {name: plain_detail(message, t) for name, message in problems.items()}
        # A channel's URL and its secrets are not echoed back into the page, even when refused.
        return await _member_page(
            request,
            member_id,
            status=error.status,
            service=service,
            typed=typed,
            channel_errors=plain,
        )
    raise web.HTTPSeeOther(f"/members/{member_id}?saved=channel")


@routes.post("/members/{member_id}/channels/{index}/delete")
async def channel_remove(request: web.Request) -> web.StreamResponse:
    member_id, index = request.match_info["member_id"], request.match_info["index"]
    if not confirmed(await request.post()):
        admin = admin_of(request)
        try:
            api.get_member(admin, member_id)
            member = admin.member(member_id)
            if not (index.isascii() and index.isdigit() and int(index) < len(member.channels)):
                raise AdminError(404, "not_found", f"no channel {index} of {member_id}")
        except AdminError as error:
            return error_page(request, error)
        return await _member_page(request, member_id, status=422, removing=index)
    try:
        await api.remove_channel(admin_of(request), member_id, index)
    except AdminError as error:
        return error_page(request, error)
    raise web.HTTPSeeOther(f"/members/{member_id}?saved=removed")


@routes.post("/members/{member_id}/channels/{index}/test")
async def channel_test(request: web.Request) -> web.StreamResponse:
    member_id, index = request.match_info["member_id"], request.match_info["index"]
    try:
        await api.test_channel(admin_of(request), member_id, index)
    except AdminError as error:
        return error_page(request, error)
    raise web.HTTPSeeOther(f"/members/{member_id}?tested={index}#channel-{index}")


# --- policies ----------------------------------------------------------------------------------


@dataclass
class QuietRow:
    days: set[str] = field(default_factory=set)
    start: str = ""
    end: str = ""
    remove: bool = False

    @property
    def empty(self) -> bool:
        return not self.days and not self.start.strip() and not self.end.strip()


@dataclass
class PolicyForm:
    """The policy form's values as entered (strings), so that a refused form keeps them."""

    quiet: list[QuietRow]
    values: dict[str, str]
    alert_guardians: bool = False

    @classmethod
    def of(cls, policy: api.PolicySpec) -> PolicyForm:
        spec = policy.model_dump(mode="json")  # as the API and settings.toml write it
        rows = [
            QuietRow({DAY_NAMES[d] for d in parse_days(w["days"])}, w["start"], w["end"])
            for w in spec["quiet"]
        ]
        burst, repeated, storm = spec["burst"], spec["breakthrough"]["repeated"], spec["storm"]
        values = {
            "summaries": ", ".join(spec["summaries"]),
            "burst_limit": str(burst["limit"]) if burst else "",
            "burst_per": burst["per"] if burst else "",
            "burst_notice_every": burst["notice_every"] if burst else "",
            "keywords": ", ".join(spec["breakthrough"]["keywords"]),
            "repeated_count": str(repeated["count"]) if repeated else "",
            "repeated_within": repeated["within"] if repeated else "",
            "content": spec["content"],
            "guardian_view": spec["guardian_view"],
            "report": spec["report"] or "",
            "storm_count": str(storm["count"]) if storm else "",
            "storm_within": storm["within"] if storm else "",
            "retention": str(spec["retention"]),
        }
        return cls([*rows, QuietRow()], values, bool(storm and storm["alert_guardians"]))

    @classmethod
    def posted(cls, data: MultiDictProxy[Any]) -> PolicyForm:
        count = _int(data.get("quiet_rows"), 0, 60)
        rows = [
            QuietRow(
                {d for d in data.getall(f"quiet-{i}-days", []) if d in DAY_NAMES},
                str(data.get(f"quiet-{i}-start", "")),
                str(data.get(f"quiet-{i}-end", "")),
                bool(data.get(f"quiet-{i}-remove")),
            )
            for i in range(count)
        ]
        names = [
            "summaries",
            "burst_limit",
            "burst_per",
            "burst_notice_every",
            "keywords",
            "repeated_count",
            "repeated_within",
            "content",
            "guardian_view",
            "report",
            "storm_count",
            "storm_within",
            "retention",
        ]
        values = {name: str(data.get(name, "")).strip() for name in names}
        return cls(rows, values, bool(data.get("storm_alert_guardians")))

    def spec(self) -> tuple[dict[str, Any], dict[int, int]]:
        """The policy as API JSON, and which form row each `quiet[i]` came from."""
        v = self.values
        rows: dict[int, int] = {}
        quiet: list[dict[str, str]] = []
        for number, row in enumerate(self.quiet):
            if row.remove or row.empty:
                continue
            rows[len(quiet)] = number
            days = frozenset(DAY_NAMES.index(d) for d in row.days)
            quiet.append(
                {"days": api.days_text(days) if days else "", "start": row.start, "end": row.end}
            )
        spec: dict[str, Any] = {
            "quiet": quiet,
            "summaries": _list(v["summaries"]),
            "breakthrough": {"keywords": _list(v["keywords"])},
            "content": v["content"],
            "guardian_view": v["guardian_view"],
            "retention": v["retention"] or None,
        }
        if any(v[k] for k in ("burst_limit", "burst_per", "burst_notice_every")):
            spec["burst"] = {
                "limit": v["burst_limit"] or None,
                "per": v["burst_per"] or None,
                "notice_every": v["burst_notice_every"] or None,
            }
        if v["repeated_count"] or v["repeated_within"]:
            spec["breakthrough"]["repeated"] = {
                "count": v["repeated_count"] or None,
                "within": v["repeated_within"] or None,
            }
        if v["report"]:
            spec["report"] = v["report"]
        if v["storm_count"] or v["storm_within"]:
            spec["storm"] = {
                "count": v["storm_count"] or None,
                "within": v["storm_within"] or None,
                "alert_guardians": self.alert_guardians,
            }
        return spec, rows


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _int(value: Any, default: int, most: int) -> int:
    text = str(value or "")
    return min(int(text), most) if text.isascii() and text.isdigit() else default


#: Which form field shows the error of each policy path (`burst.per` → `burst_per`).
_FIELD_OF = {
    "summaries": "summaries",
    "burst": "burst_limit",
    "burst.limit": "burst_limit",
    "burst.per": "burst_per",
    "burst.notice_every": "burst_notice_every",
    "breakthrough.keywords": "keywords",
    "breakthrough.repeated": "repeated_count",
    "breakthrough.repeated.count": "repeated_count",
    "breakthrough.repeated.within": "repeated_within",
    "content": "content",
    "guardian_view": "guardian_view",
    "report": "report",
    "storm": "storm_count",
    "storm.count": "storm_count",
    "storm.within": "storm_within",
    "retention": "retention",
}


def form_errors(fields: dict[str, str], rows: dict[int, int]) -> dict[str, str]:
    """Errors by path (`quiet[0].start`, `summaries[1]`) → errors by form field id."""
    errors: dict[str, str] = {}
    for path, message in fields.items():
        if path.startswith("quiet["):
            index, _, rest = path[len("quiet[") :].partition("]")
            row = rows.get(int(index), 0) if index.isascii() and index.isdigit() else 0
            part = rest.lstrip(".") or "row"
            errors.setdefault(f"quiet-{row}-{part}", message)
            continue
        bare = path.split("[", 1)[0]
        errors.setdefault(_FIELD_OF.get(path) or _FIELD_OF.get(bare) or "form", message)
    return errors


def _policy_context(
    admin: Admin, name: str, policy: api.PolicyOut, form: PolicyForm
) -> dict[str, Any]:
    settings = admin.view.policies[name]
    return {
        "name": name,
        "policy": policy,
        "form": form,
        "week": quiet_week(settings),
        "days": list(zip(DAY_NAMES, DAY_LABELS, strict=True)),
        "levels": LEVELS,
        "hours": range(24),
        "members": [admin.view.members[m] for m in policy.members],
        "level_names": LEVEL_NAMES,
        "focus": None,
    }


def _first_field(errors: dict[str, str]) -> str | None:
    """The first field with an error that can take the focus (a day's box for its days)."""
    for name in errors:
        if name.endswith("-days"):
            return f"{name}-{DAY_NAMES[0]}"
        if name != "form" and not name.endswith("-row"):
            return name
    return None


@routes.get("/policies/{name}")
async def policy_page(request: web.Request) -> web.Response:
    admin, name = admin_of(request), request.match_info["name"]
    try:
        policy = api.get_policy(admin, name)
    except AdminError as error:
        return error_page(request, error)
    context = _policy_context(admin, name, policy, PolicyForm.of(policy.spec))
    context.update(errors={}, saved=request.query.get("saved", ""))
    return render(request, "policy.html", context)


@routes.post("/policies/{name}")
async def policy_save(request: web.Request) -> web.StreamResponse:
    admin, name = admin_of(request), request.match_info["name"]
    try:
        policy = api.get_policy(admin, name)
    except AdminError as error:
        return error_page(request, error)
    form = PolicyForm.posted(await request.post())
    data, rows = form.spec()
    try:
        await api.put_policy(admin, name, api.PolicySpec.model_validate(data))
    except ValidationError as error:
        problems = invalid(error).fields
    except AdminError as error:
        problems = error.fields or {"form": error.detail}
    else:
        raise web.HTTPSeeOther(f"/policies/{name}?saved=1")
    for index, window in enumerate(data["quiet"]):
        if not window["days"]:
            problems[f"quiet[{index}].days"] = "choose at least one day"
    context = _policy_context(admin, name, policy, form)
    errors = form_errors(problems, rows)
    context.update(errors=errors, saved="", focus=_first_field(errors))
    return render(request, "policy.html", context, status=422)
