"""Every built-in push plugin, fuzzed through the real app: correctly signed requests whose bodies
are random bytes, or the network's own message with values replaced by hostile ones (huge
numbers and timestamps, deep nesting, NUL, very long strings, wrong types), get a 2xx or a JSON
4xx, never a 5xx, and nothing is logged at ERROR (a traceback means a case nobody handled).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardian.testing import CONFORMANCE_NOW, Mounted, PluginCase, mount
from tests.plugins import test_slack, test_sms_gateway, test_telegram, test_twilio, test_whatsapp
from tests.test_testing import WEBHOOK

CASES: dict[str, PluginCase] = {
    "webhook": WEBHOOK,
    "telegram": test_telegram.CASE,
    "slack": test_slack.CASE,
    "whatsapp": test_whatsapp.CASE,
    "twilio": test_twilio.CASE,
    "sms_gateway": test_sms_gateway.CASE,
}

HOSTILE = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.just(10**400),
    st.just(-1),
    st.just(253402300800),  # year 10000 as a Unix time
    st.just(253402300800000),  # ... in milliseconds
    st.floats(allow_nan=False),
    st.just("9999-12-31T23:59:59-14:00"),
    st.just("0001-01-01T00:00:00+14:00"),
    st.text(max_size=50),
    st.just("x" * 70_000),
    st.just("a\x00b"),
    st.just("\u202e\u2066"),
    st.none(),
    st.booleans(),
    st.just([]),
    st.just({}),
    st.recursive(st.just([]), lambda inner: st.lists(inner, max_size=2), max_leaves=40),
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def replaced(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(document))
    parent = copy
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = new
    return copy


@st.composite
def mangled(draw: st.DrawFn, case: PluginCase) -> bytes:
    """The network's own message with a few values replaced, or random bytes."""
    original = case.message("fuzz", CONFORMANCE_NOW).body
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=3000))
    form = case.plugin.__name__ == "TwilioPlugin"
    document: Any = dict(parse_qsl(original.decode())) if form else json.loads(original)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(document)))
        document = replaced(document, path, draw(HOSTILE))
    if form:
        if not isinstance(document, dict):
            return draw(st.binary(max_size=300))
        return urlencode(
            {str(k): json.dumps(v) if not isinstance(v, str) else v for k, v in document.items()}
        ).encode()
    return json.dumps(document).encode()


@pytest.fixture(params=sorted(CASES))
async def mounted(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[PluginCase, Mounted]]:
    case = CASES[request.param]
    assert case.sign is not None, f"{request.param}'s case cannot sign a body"
    async with mount(
        case.plugin,
        case.settings,
        now=CONFORMANCE_NOW,
        folder=tmp_path,
        public_url=case.public_url,
    ) as guardian:
        yield case, guardian


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_no_mangled_body_gets_a_5xx_or_a_traceback(
    mounted: tuple[PluginCase, Mounted], data: st.DataObject
) -> None:
    case, guardian = mounted
    assert case.sign is not None
    body = data.draw(mangled(case))
    logged = len(guardian.logs.splitlines())
    reply = await guardian.send(case.sign(body, guardian.clock.now()))
    assert reply.status < 500, reply.describe()
    if reply.status >= 400:
        answer = json.loads(reply.body)
        assert answer["error"] and answer["detail"], reply.describe()
    new = guardian.logs.splitlines()[logged:]
    assert not [line for line in new if line.startswith("ERROR") or "Traceback" in line], new
