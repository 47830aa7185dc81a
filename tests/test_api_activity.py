"""Activity per local hour with quiet hours marked, and a child's transparency page: in the admin
API and on the dashboard."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from guardian.models import Contact, Policy
from guardian.settings import Settings
from tests.admin import AdminClient, admin_client
from tests.conftest import Running, at, message

Start = Callable[[Settings, datetime], Awaitable[Running]]

WEDNESDAY_EVENING = at("2026-11-25T20:10:00+01:00")
WEDNESDAY_NIGHT = at("2026-11-25T23:05:00+01:00")
THURSDAY_NOON = at("2026-11-26T12:00:00+01:00")


async def started(
    write_settings: Callable[..., Settings], start_guardian: Start, now: datetime
) -> tuple[Running, AdminClient]:
    running = await start_guardian(write_settings(), now)
    return running, await admin_client(running)


async def post_at(running: Running, instant: datetime, *numbers: int) -> None:
    await running.clock.set(instant)
    for n in numbers:
        assert (await running.post(message(n))).status == 202


def by_start(member: dict[str, Any]) -> dict[datetime, dict[str, Any]]:
    return {datetime.fromisoformat(h["start"]): h for h in member["hours"]}


async def test_counts_per_local_hour_with_quiet_hours_of_the_policy(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    running, admin = await started(write_settings, start_guardian, WEDNESDAY_EVENING)
    await post_at(running, WEDNESDAY_EVENING, 1, 2)
    await post_at(running, WEDNESDAY_NIGHT, 3, 4, 5)
    await post_at(running, THURSDAY_NOON, 6)

    answer = await admin.get("/activity")
    assert answer.status == 200
    body = await answer.json()
    assert body["days"] == 7
    mia, sam = body["members"]
    assert (mia["member"], sam["member"]) == ("mia", "sam")
    assert (mia["total"], sam["total"]) == (6, 0)
    # Fri 20 Nov 00:00 to Fri 27 Nov 00:00 local: 7 days of 24 hours (no clock change).
    assert len(mia["hours"]) == 7 * 24
    first = datetime.fromisoformat(mia["hours"][0]["start"])
    assert first == at("2026-11-20T00:00:00+01:00")
    hours = by_start(mia)
    assert hours[at("2026-11-25T20:00:00+01:00")] == {
        "start": "2026-11-25T19:00:00Z",
        "count": 2,
        "quiet": False,
    }
    assert hours[at("2026-11-25T23:00:00+01:00")]["count"] == 3
    assert hours[at("2026-11-26T12:00:00+01:00")]["count"] == 1
    assert sum(h["count"] for h in mia["hours"]) == 6

    def quiet(local: str) -> bool:
        return bool(hours[at(local)]["quiet"])

    # mon-thu,sun 21:30–07:00: an hour is quiet if any part of it is.
    assert not quiet("2026-11-25T20:00:00+01:00")
    assert quiet("2026-11-25T21:00:00+01:00")  # from 21:30
    assert quiet("2026-11-25T23:00:00+01:00")
    assert quiet("2026-11-26T06:00:00+01:00")
    assert not quiet("2026-11-26T07:00:00+01:00")
    assert quiet("2026-11-20T03:00:00+01:00")  # Friday morning: Thursday night's window
    assert not quiet("2026-11-20T22:00:00+01:00")  # no window on Friday night
    assert not quiet("2026-11-21T23:00:00+01:00")  # nor Saturday night
    assert quiet("2026-11-22T22:00:00+01:00")  # Sunday night
    assert not any(h["quiet"] for h in sam["hours"])  # Sam has no policy
    assert all(set(h) == {"start", "count", "quiet"} for h in mia["hours"])  # counts only

    one = await (await admin.get("/activity?days=1")).json()
    assert len(one["members"][0]["hours"]) == 24
    assert one["members"][0]["total"] == 1
    for bad in ("0", "32", "seven"):
        refused = await admin.get(f"/activity?days={bad}")
        assert refused.status == 422
        assert "query.days" in (await refused.json())["fields"]


async def test_a_day_with_a_clock_change_has_25_hours(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    _, admin = await started(write_settings, start_guardian, at("2026-10-26T12:00:00+01:00"))
    body = await (await admin.get("/activity?days=2")).json()
    starts = [datetime.fromisoformat(h["start"]) for h in body["members"][0]["hours"]]
    assert len(starts) == 25 + 24  # Sunday 25 October: the clocks go back at 03:00
    assert starts[0] == datetime(2026, 10, 24, 22, tzinfo=UTC)
    assert all(b - a == timedelta(hours=1) for a, b in pairwise(starts))


async def test_activity_page_draws_an_accessible_heatmap(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    running, admin = await started(write_settings, start_guardian, WEDNESDAY_EVENING)
    await post_at(running, WEDNESDAY_NIGHT, 1, 2, 3)
    await admin.login()
    page = await running.client.get("/activity")
    assert page.status == 200
    html = await page.text()
    assert html.count('<svg class="heatmap"') == 2
    assert 'viewBox="0 0 328 ' in html and 'width="100%"' in html
    assert "<title>Wed 23:00 – 3 notifications (quiet hours)</title>" in html
    assert "<title>Wed 20:00 – 0 notifications</title>" in html
    assert '<desc id="chart-mia-desc">' in html
    assert 'fill="url(#hatch-mia)"' in html
    assert 'href="/members/mia/transparency"' in html
    assert 'href="/members/sam/transparency"' not in html  # for children only
    assert "Sophie" not in html  # counts only
    assert (await running.client.get("/activity?days=99")).status == 422


SCHOOL_NIGHT = {
    "quiet": [{"days": "mon-thu,sun", "start": "21:30", "end": "07:00"}],
    "summaries": ["18:00"],
    "breakthrough": {
        "keywords": ["emergency", "hospital"],
        "repeated": {"count": 3, "within": "5m"},
    },
    "content": "senders",
    "guardian_view": "counts",
    "report": "07:30",
    "storm": {"count": 20, "within": "30m", "alert_guardians": True},
    "retention": 14,
}


async def with_policy(running: Running, **changes: Any) -> None:
    await Policy.filter(name="school-night").update(spec={**SCHOOL_NIGHT, **changes})
    await running.service.reload()


async def test_transparency_for_mias_school_night_policy(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    running, admin = await started(write_settings, start_guardian, THURSDAY_NOON)
    await Contact.filter(slug="sophie").update(trust="trusted")
    await with_policy(running)

    answer = await admin.get("/members/mia/transparency")
    assert answer.status == 200
    page = await answer.json()
    assert page["member"] == "mia"
    assert page["quiet_hours"] == ["Sun–Thu 21:30–07:00"]
    assert page["summaries"] == ["18:00"]
    assert page["report"] == "07:30"
    assert page["guardian_view"] == "counts"
    assert page["retention_days"] == 14
    see = page["what_guardians_see"]
    assert see[0].startswith("Every day at 07:30 your guardians get a short report about you")
    assert "It does not say who sent them, and not what they said." in see
    assert any(s.startswith("If 20 messages come from one person within 30 minutes") for s in see)
    rules = page["breakthrough"]
    assert rules["trusted_contacts"] == ["Sophie"]
    assert rules["keywords"] == ["emergency", "hospital"]
    assert rules["repeated"] == "3 messages from the same person within 5 minutes"
    assert rules["sentences"][0] == "Messages from Sophie always come through at once."
    assert "“emergency” or “hospital”" in rules["sentences"][1]
    assert page["storm"].startswith("When 20 or more messages come from one person")

    # The example is the real report renderer's text, at the counts level: no names.
    example = page["example_report"]
    assert example.startswith("Guardian report: Mia\n\nMia\n6 notifications passed, 4 held.")
    assert "Broke through at 23:10 (an emergency keyword)." in example
    assert "Alex" not in example and "Grandma" not in example

    await with_policy(running, guardian_view="preview", storm=None)
    page = await (await admin.get("/members/mia/transparency")).json()
    assert page["storm"] is None
    assert not any("storm" in s for s in page["what_guardians_see"])
    assert (
        "Alex: 2 messages, 22:05–22:40 — “ok never mind, see you tomorrow”"
        in (page["example_report"])
    )
    await with_policy(running, report=None)
    page = await (await admin.get("/members/mia/transparency")).json()
    assert page["what_guardians_see"][0] == "Your guardians do not get a daily report about you."
    assert page["example_report"] is None


@pytest.mark.parametrize(("member", "status"), [("sam", 409), ("nobody", 404)])
async def test_transparency_is_for_children(
    write_settings: Callable[..., Settings], start_guardian: Start, member: str, status: int
) -> None:
    running, admin = await started(write_settings, start_guardian, THURSDAY_NOON)
    answer = await admin.get(f"/members/{member}/transparency")
    assert answer.status == status
    if status == 409:
        assert "transparency pages are for children" in (await answer.json())["detail"]
    await admin.login()
    assert (await running.client.get(f"/members/{member}/transparency")).status == status


async def test_transparency_page_is_calm_and_read_only(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    running, admin = await started(write_settings, start_guardian, THURSDAY_NOON)
    await with_policy(running)
    await admin.login()
    page = await running.client.get("/members/mia/transparency")
    assert page.status == 200
    html = await page.text()
    assert "What your guardians see about you, and when" in html
    assert "Sun–Thu 21:30–07:00" in html
    assert "Every day at 07:30 your guardians get a short report about you" in html
    assert '<pre class="sent">Guardian report: Mia' in html
    # No admin controls: only the header's language switch and log-out.
    assert html.count("<form") == 2 and 'action="/logout"' in html
    assert 'action="/language"' in html
    # Log-out and the language's Change send something; the other opens the phone's menu.
    assert html.count("<button") == 3 and html.count('<button type="submit"') == 2
