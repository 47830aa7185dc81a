"""A guardian sees another member's notifications and deliveries only at that member's
`guardian_view`: the one rule (guardian.privacy) as a table, then every operation of the admin
API's OpenAPI document walked as a guardian after a busy evening whose sender and text must
not show at `counts`, and whose text must not show at `senders`.

The pages of the navigation get the same walk in a real browser:
tests/browser/test_privacy_pages.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from guardian import i18n
from guardian.household import MemberView
from guardian.models import Delivery
from guardian.policy_settings import PolicySettings
from guardian.privacy import SENT, Facts, Sent, delivery_level, level_for, shown
from guardian.settings import Settings
from guardian.summary import (
    Item,
    render_breakthrough,
    render_burst_notice,
    render_forward,
    render_summary,
)
from tests.admin import admin_client
from tests.conftest import Receiver, Running, at
from tests.evening import (
    SENDER_NAME,
    TEXT,
    THURSDAY_AFTERNOON,
    busy_evening,
    leaks,
    secrets_at,
    with_mias_policy,
)

ZONE = ZoneInfo("Europe/Amsterdam")
AT = at("2026-11-26T22:10:00+01:00")


def member(member_id: str, content: str, guardian_view: str) -> MemberView:
    policy = PolicySettings.model_validate({"content": content, "guardian_view": guardian_view})
    return MemberView(1, member_id, member_id.title(), "child", policy, ())


# --- the rule ------------------------------------------------------------------------------


def test_whose_level_a_viewer_sees() -> None:
    mia = member("mia", content="preview", guardian_view="counts")
    assert level_for("mia", mia) == "preview"  # her own notifications, at her own level
    assert level_for("sam", mia) == "counts"  # a guardian, at her guardian_view
    assert level_for(None, mia) == "counts"  # a login of no member: a guardian as well
    assert delivery_level("mia", mia) == SENT  # her own deliveries in full
    assert delivery_level("sam", mia) == "counts"
    # Never more than was sent: her own deliveries showed only who wrote.
    assert delivery_level("sam", member("mia", "senders", "preview")) == "senders"
    # At preview nothing sent says more than the level: as sent.
    assert delivery_level("sam", member("mia", "preview", "preview")) == SENT
    assert delivery_level("sam", None) == "counts"


def item(n: int = 0, *, group: bool = False) -> Item:
    return Item(
        sender_key="sms:+31655501234",
        sender_label=SENDER_NAME,
        network="sms",
        text=f"{TEXT} {n}",
        at=AT + timedelta(minutes=n),
        conversation="Cousins" if group else None,
        conversation_key="sms:cousins" if group else None,
        group=group,
    )


def erased(items: list[Item]) -> list[Item]:
    """The items as stored once delivered: their text is gone."""
    return [replace(i, text="") for i in items]


@pytest.mark.parametrize("level", ["counts", "senders"])
def test_a_delivery_is_rendered_again_at_the_viewers_level(level: str) -> None:
    items = [item(0), item(1, group=True), item(2)]
    cases = [
        (
            Sent("forward", *_text(render_forward(items[0], "preview"))),
            render_forward(items[0], level),
            items[:1],
            Facts(),
        ),
        (
            Sent("breakthrough", *_text(render_breakthrough(items[0], "preview", "keyword x"))),
            render_breakthrough(items[0], level, "keyword x"),
            items[:1],
            Facts(reason="keyword x"),
        ),
        (
            Sent(
                "breakthrough",
                *_text(render_breakthrough(items[0], "preview", "trusted", quiet=False)),
            ),
            render_breakthrough(items[0], level, "trusted", quiet=False),
            items[:1],
            Facts(reason="trusted", quiet=False),
        ),
        (
            Sent(
                "summary",
                *_text(render_summary(items, "preview", ZONE)),
                render_summary(items, "preview", ZONE, markdown=True).body,
            ),
            render_summary(items, level, ZONE),
            items,
            Facts(),
        ),
        (
            Sent(
                "burst",
                *_text(render_burst_notice(SENDER_NAME, 3, AT, AT, ZONE, "preview", final=True)),
            ),
            render_burst_notice(
                SENDER_NAME, 3, AT, AT + timedelta(minutes=2), ZONE, level, final=True
            ),
            items,
            Facts(final=True),
        ),
    ]
    for sent, expected, covered, facts in cases:
        seen = shown(sent, level, erased(covered), ZONE, facts)
        assert (seen.title, seen.body) == (expected.title, expected.body), sent.kind
        assert seen.shown_at == level
        assert not leaks(f"{seen.title}\n{seen.body}\n{seen.body_markdown}", secrets_at(level))
        # Her own view, and a guardian's at preview: as sent.
        assert shown(sent, SENT, covered, ZONE).title == sent.title
    summary = cases[3][0]
    markdown = shown(summary, level, erased(items), ZONE).body_markdown
    assert markdown == render_summary(items, level, ZONE, markdown=True).body


@pytest.mark.parametrize("language", ["nl", "de"])
def test_a_delivery_made_again_is_in_its_members_language(language: str) -> None:
    """What was sent to a Dutch child was Dutch; shown to a guardian at `counts`, it is made
    again in Dutch too, not in English; one whose messages are gone says so in Dutch."""
    items = [item(0), item(1), item(2)]
    sent = Sent("summary", *_text(render_summary(items, "preview", ZONE, language=language)))
    seen = shown(sent, "counts", erased(items), ZONE, Facts(), language)
    expected = render_summary(items, "counts", ZONE, language=language)
    assert (seen.title, seen.body) == (expected.title, expected.body)
    assert seen.body != render_summary(items, "counts", ZONE).body
    gone = shown(sent, "counts", [], ZONE, Facts(), language)
    t = i18n.language(language)
    assert (gone.title, gone.body) == (
        t.gettext("Summary"),
        t.gettext("What it said is no longer kept."),
    )
    assert gone.body != "What it said is no longer kept."


def _text(rendered: Any) -> tuple[str, str]:
    return rendered.title, rendered.body


def test_what_is_not_made_of_notifications_is_shown_as_sent() -> None:
    for kind in ("report", "storm", "test"):
        sent = Sent(kind, f"{kind} title", f"{kind} body")
        assert shown(sent, "counts", [], ZONE) == shown(sent, SENT, [], ZONE)


def test_a_delivery_whose_notifications_are_gone_says_so_and_nothing_else() -> None:
    sent = Sent("summary", *_text(render_summary([item()], "preview", ZONE)))
    seen = shown(sent, "counts", [], ZONE)
    assert (seen.title, seen.body) == ("Summary", "What it said is no longer kept.")


# --- every operation of the API, as a guardian ----------------------------------------------------

Start = Callable[[Settings, datetime], Awaitable[Running]]


async def evening_household(
    write_settings: Callable[..., Settings], start_guardian: Start, receiver: Receiver, level: str
) -> tuple[Running, Any, dict[str, list[int]]]:
    settings = write_settings(
        mia_channels=[receiver.channel("mia")], sam_channels=[receiver.channel("sam")]
    )
    running = await start_guardian(
        with_mias_policy(settings, level), THURSDAY_AFTERNOON - timedelta(hours=1)
    )
    admin = await admin_client(running)  # the login `sam`, the household's guardian
    evening = await busy_evening(running, receiver)
    return running, admin, evening.deliveries


class Walk:
    """Every answer of the walk: none may fail with a 5xx or show a secret of the level."""

    def __init__(self, admin: Any, secrets: tuple[str, ...]) -> None:
        self.admin = admin
        self.secrets = secrets
        self.called: set[tuple[str, str]] = set()
        self.answers = 0

    async def call(
        self, method: str, template: str, path: str, body: Any = None, status: int = 200
    ) -> Any:
        client = self.admin.client
        answer = await client.request(
            method, f"/api/v1{path}", json=body, headers=self.admin._headers()
        )
        text = await answer.text()
        assert answer.status == status, (method, path, text)
        leaked = leaks(text, self.secrets)
        assert not leaked, f"{method} {path} shows {leaked}: {text[:2000]}"
        self.called.add((method, template))
        self.answers += 1
        return await answer.json() if text and answer.content_type == "application/json" else None


@pytest.mark.parametrize("level", ["counts", "senders"])
async def test_every_api_operation_shows_mia_at_her_guardian_view(
    level: str,
    write_settings: Callable[..., Settings],
    start_guardian: Start,
    receiver: Receiver,
) -> None:
    running, admin, deliveries = await evening_household(
        write_settings, start_guardian, receiver, level
    )
    walk = Walk(admin, secrets_at(level))
    document = await walk.call("GET", "/openapi.json", "/openapi.json")
    operations = {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, methods in document["paths"].items()
        for method in methods
    }
    ids = sorted(d for kind in deliveries.values() for d in kind)
    failed = [d.id for d in await Delivery.filter(status="failed")]

    async def every_read() -> None:
        for path in (
            "/tonight",
            "/held",
            "/held?member=mia",
            "/household",
            "/audit",
            "/tokens",
            "/members",
            "/policies",
            "/contacts",
            "/sources",
            "/deliveries",
            "/deliveries?member=mia&limit=500",
            "/deliveries?kind=summary",
            "/deliveries?status=failed",
            "/activity",
            "/activity?days=31",
            "/people",
            "/users",
            "/me",
        ):
            await walk.call("GET", path.split("?")[0], path)
        for member_id in ("mia", "sam"):
            await walk.call("GET", "/members/{member_id}", f"/members/{member_id}")
            await walk.call(
                "GET",
                "/members/{member_id}/transparency",
                f"/members/{member_id}/transparency",
                status=200 if member_id == "mia" else 409,  # Sam is a guardian
            )
            await walk.call(
                "GET", "/members/{member_id}/summaries", f"/members/{member_id}/summaries"
            )
        await walk.call("GET", "/policies/{name}", "/policies/school-night")
        await walk.call("GET", "/contacts/{contact_id}", "/contacts/sophie")
        await walk.call("GET", "/sources/{source_id}", "/sources/mia-phone")
        for delivery_id in ids:
            await walk.call("GET", "/deliveries/{delivery_id}", f"/deliveries/{delivery_id}")

    await every_read()
    # Every change a guardian can make, with the answers it gives.
    for delivery_id in failed:
        await walk.call(
            "POST", "/deliveries/{delivery_id}/retry", f"/deliveries/{delivery_id}/retry"
        )
    sent = deliveries["summary"][0]  # a delivery that was sent is not retried
    await walk.call(
        "POST", "/deliveries/{delivery_id}/retry", f"/deliveries/{sent}/retry", status=409
    )
    for member_id in ("mia", "sam"):
        await walk.call(
            "POST",
            "/members/{member_id}/channels/{index}/test",
            f"/members/{member_id}/channels/0/test",
        )
        await walk.call("PATCH", "/members/{member_id}", f"/members/{member_id}", {})
    await walk.call(
        "POST",
        "/members/{member_id}/channels",
        "/members/mia/channels",
        {"url": "console://"},
        status=201,
    )
    await walk.call("DELETE", "/members/{member_id}/channels/{index}", "/members/mia/channels/1")
    spec = (await walk.call("GET", "/policies/{name}", "/policies/school-night"))["spec"]
    await walk.call("PUT", "/policies/{name}", "/policies/school-night", spec)
    await walk.call("DELETE", "/policies/{name}", "/policies/school-night", status=409)  # in use
    for new in ("walker", "other"):
        await walk.call(
            "POST", "/contacts", "/contacts", {"id": new, "name": new.title()}, status=201
        )
    await walk.call("PATCH", "/contacts/{contact_id}", "/contacts/sophie", {"trust": "normal"})
    await walk.call(
        "POST", "/contacts/{contact_id}/merge", "/contacts/sophie/merge", {"from": "other"}
    )
    await walk.call("DELETE", "/contacts/{contact_id}", "/contacts/walker", status=204)
    await walk.call("PATCH", "/household", "/household", {"name": "Test household"})
    people = (await walk.call("GET", "/people", "/people"))["items"]
    if level == "counts":  # who wrote to Mia is not Sam's to see, nor to act on
        assert all(p["members"] == ["sam"] for p in people)
    unknown = [p["key"] for p in people if p["contact"] is None]
    for key in unknown[:1] or ["sms:+31600000001"]:
        await walk.call(
            "POST",
            "/people/contact",
            "/people/contact",
            {"person": key, "trust": "muted"},
            status=200 if unknown else 404,
        )
    login = {"username": "mia", "password": "a long password", "member": "mia"}
    await walk.call("POST", "/users", "/users", login, status=201)
    await walk.call("DELETE", "/users/{username}", "/users/mia", status=204)
    token = await walk.call("POST", "/tokens", "/tokens", {"name": "walk"}, status=201)
    await walk.call("DELETE", "/tokens/{token_id}", f"/tokens/{token['id']}", status=204)
    await walk.call("POST", "/sources/{source_id}/rotate", "/sources/mia-bridge/rotate", {})
    added = {"id": "walk-hook", "plugin": "webhook", "member": "mia", "settings": {"token": "t"}}
    await walk.call("POST", "/sources", "/sources", added, status=201)
    await walk.call("PUT", "/sources/{source_id}", "/sources/walk-hook", {"enabled": False})
    await walk.call("DELETE", "/sources/{source_id}", "/sources/walk-hook", status=204)
    scenario = {
        "events": [
            {
                "at": "2026-11-26T16:00:00+01:00",
                "source": "mia-phone",
                "message": {"id": "sim-1", "from": {"id": "+31600000001", "name": "Noor"}},
            }
        ]
    }
    await walk.call("POST", "/simulate", "/simulate", scenario)
    await walk.call("GET", "/members/{member_id}/quiet", "/members/mia/quiet")
    quiet = await walk.call(
        "POST", "/members/{member_id}/quiet", "/members/mia/quiet", {"control": "one_more_hour"}
    )
    override = quiet["quiet"]["overrides"][0]["id"]
    await walk.call(
        "DELETE", "/members/{member_id}/quiet/{override_id}", f"/members/mia/quiet/{override}"
    )
    await running.run_until(running.clock.now() + timedelta(minutes=1))  # the retries went out
    await every_read()  # and everything again, after the changes and the audit entries

    missing = operations - walk.called - {("GET", "/openapi.json")}
    assert not missing, f"operations the walk does not call yet: {sorted(missing)}"
    assert walk.answers > 2 * len(ids)
