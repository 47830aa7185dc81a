"""The admin API against its own OpenAPI document.

Schemathesis runs every phase it runs by default (the document's examples, coverage of each
schema's edges with valid and invalid input, random valid and invalid input, and stateful chains
through the links it infers) against a real `guardian serve` on a real SQLite file. Every answer
must be documented: no 5xx, a documented status code and content type, and a body matching its
schema. Afterwards the server has logged no unexpected error, and no answer showed a secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis.core.result import Ok

from tests.conftest import AMSTERDAM
from tests.schemathesis_support import ServedAPI, run_engine, served_api

DOCUMENT = "/api/v1/openapi.json"
#: Revoking a token could revoke the run's own: `test_revoking_a_token` covers it.
NOT_GENERATED = ("delete_token",)
#: A scenario with a known source spawns a `guardian simulate` process (about a second);
#: `test_simulate_replays_a_scenario` covers the valid case.
FEW_EXAMPLES = {"post_simulate": 5}
MAX_EXAMPLES = 20
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedAPI]:
    with served_api(tmp_path_factory.mktemp("openapi")) as served:
        yield served


def config(api: ServedAPI) -> schemathesis.Config:
    """The run's settings: reproducible (fixed seed, derandomized), bounded, and authenticated."""
    return schemathesis.Config.from_dict(
        {
            "seed": 20261125,
            "base-url": api.base,
            "headers": api.headers,
            "request-timeout": 30,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            # GUARDIAN_OPENAPI_ALL_CHECKS=1: every check schemathesis runs by default (also
            # "valid input accepted", "invalid input rejected", 405 for undeclared methods).
            "checks": {}
            if os.environ.get("GUARDIAN_OPENAPI_ALL_CHECKS")
            else {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "operations": [
                *({"include-operation-id": name, "enabled": False} for name in NOT_GENERATED),
                *(
                    {"include-operation-id": name, "generation": {"max-examples": count}}
                    for name, count in FEW_EXAMPLES.items()
                ),
            ],
        }
    )


def document(api: ServedAPI) -> dict[str, Any]:
    response = requests.get(f"{api.base}{DOCUMENT}", timeout=10)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def resolve(root: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"a $ref outside the document: {ref}"
    node: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"$ref {ref} does not resolve"
        node = node[part]
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def test_the_document_is_valid_openapi_3_1(api: ServedAPI) -> None:
    doc = document(api)
    assert doc["openapi"].startswith("3.1")
    schema = schemathesis.openapi.from_dict(doc)
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    loaded = list(schema.get_all_operations())
    assert loaded and all(isinstance(result, Ok) for result in loaded), loaded

    operation_ids: list[str] = []
    for path, operations in doc["paths"].items():
        names = set(re.findall(r"\{([^}]+)\}", path))
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            operation_ids.append(operation["operationId"])
            declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert declared == names, f"{where}: path parameters {declared} != {names}"
            assert all(p["required"] for p in operation["parameters"] if p["in"] == "path")
            for status, answer in operation["responses"].items():
                if status.startswith("2") and status != "204":
                    assert answer["content"]["application/json"]["schema"], f"{where} {status}"
    duplicates = {name for name in operation_ids if operation_ids.count(name) > 1}
    assert not duplicates, f"operationIds used more than once: {duplicates}"
    for ref in set(refs(doc)):
        resolve(doc, ref)


def test_every_operation_answers_as_documented(api: ServedAPI) -> None:
    schema = schemathesis.openapi.from_url(f"{api.base}{DOCUMENT}", config=config(api))
    run = run_engine(schema, api.bodies)
    print(f"schemathesis: {run.requests} requests in {run.seconds:.1f} s ({run.stop_reason})")
    assert not run.findings and not run.errors, run.report()
    assert run.stop_reason == "completed", run.report()
    assert run.requests > 10 * len(list(schema.get_all_operations()))  # it really ran
    assert not api.problems_logged(), "\n".join(api.problems_logged())
    # The run's own token still works: nothing it did locked the guardian out.
    assert requests.get(f"{api.base}/api/v1/tokens", headers=api.headers, timeout=10).ok


def test_simulate_replays_a_scenario(api: ServedAPI) -> None:
    """A valid scenario: two messages in Mia's quiet hours give one summary at their end.

    The household is set up through the API first: the generated run may have changed it."""
    put = requests.put(
        f"{api.base}/api/v1/policies/evenings",
        json={"quiet": [{"days": "daily", "start": "20:00", "end": "08:00"}]},
        headers=api.headers,
        timeout=10,
    )
    assert put.status_code == 200, put.text
    for path, change in (
        ("/household", {"timezone": AMSTERDAM}),
        ("/members/mia", {"policy": "evenings"}),
    ):
        patched = requests.patch(
            f"{api.base}/api/v1{path}", json=change, headers=api.headers, timeout=10
        )
        assert patched.status_code == 200, patched.text
    mia = requests.get(f"{api.base}/api/v1/members/mia", headers=api.headers, timeout=10).json()
    if not mia["channels"]:  # the run may have removed them: a summary to nowhere fails
        added = requests.post(
            f"{api.base}/api/v1/members/mia/channels",
            json={"url": "json://127.0.0.1:9/mia"},
            headers=api.headers,
            timeout=10,
        )
        assert added.status_code in (200, 201), added.text
    # The run may have edited or removed the sources too: the scenario's own source.
    requests.delete(f"{api.base}/api/v1/sources/sim-phone", headers=api.headers, timeout=10)
    source = requests.post(
        f"{api.base}/api/v1/sources",
        json={"id": "sim-phone", "plugin": "webhook", "member": "mia", "settings": {"token": "t"}},
        headers=api.headers,
        timeout=10,
    )
    assert source.status_code == 201, source.text
    events = [
        {
            "at": f"2026-11-25T22:1{n}:00+01:00",
            "source": "sim-phone",
            "message": {
                "id": f"sim-{n}",
                "network": "sms",
                "from": {"id": "+31600000001", "name": "Noor"},
                "text": "are you awake?",
            },
        }
        for n in range(2)
    ]
    body: dict[str, Any] = {"events": events, "until": "2026-11-26T09:00:00+01:00"}
    response = requests.post(
        f"{api.base}/api/v1/simulate", json=body, headers=api.headers, timeout=60
    )
    assert response.status_code == 200, response.text
    api.bodies.append(response.text)
    schema = schemathesis.openapi.from_dict(document(api))
    schema["/api/v1/simulate"]["POST"].validate_response(response)
    deliveries = response.json()["deliveries"]
    assert [(d["member"], d["kind"], d["at"]) for d in deliveries] == [
        ("mia", "summary", "2026-11-26T07:00:00Z")
    ], deliveries


def test_revoking_a_token(api: ServedAPI) -> None:
    tokens = f"{api.base}/api/v1/tokens"
    created = requests.post(tokens, json={"name": "to revoke"}, headers=api.headers, timeout=10)
    assert created.status_code == 201, created.text
    new = created.json()
    theirs = {"Authorization": f"Bearer {new['token']}"}
    assert requests.get(tokens, headers=theirs, timeout=10).status_code == 200

    revoked = requests.delete(f"{tokens}/{new['id']}", headers=api.headers, timeout=10)
    assert revoked.status_code == 204, revoked.text
    assert requests.get(tokens, headers=theirs, timeout=10).status_code == 401
    for garbage in (str(new["id"]), "0", "-1", "abc", "9" * 30, "1.5", "%20"):
        gone = requests.delete(f"{tokens}/{garbage}", headers=api.headers, timeout=10)
        assert gone.status_code == 404, (garbage, gone.text)
        assert gone.json()["error"] == "not_found"
    listed = requests.get(tokens, headers=api.headers, timeout=10)
    assert new["id"] not in {token["id"] for token in listed.json()["items"]}


def test_no_answer_shows_a_secret(api: ServedAPI) -> None:
    """Whatever the run changed, no answer (of the run, or any read now) shows a secret."""
    doc = document(api)
    reads = [path for path, ops in doc["paths"].items() if "get" in ops and "{" not in path]
    reads += [
        "/api/v1/members/mia",
        "/api/v1/members/sam",
        "/api/v1/members/mia/transparency",
        "/api/v1/sources/mia-phone",
        "/api/v1/sources/mia-bridge",
        "/api/v1/contacts/sophie",
        "/api/v1/policies/school-night",
    ]
    for path in reads:
        response = requests.get(f"{api.base}{path}", headers=api.headers, timeout=10)
        assert response.status_code in (200, 404), (path, response.text)
        api.bodies.append(response.text)
    leaks = [
        (secret, body[:300]) for body in api.bodies for secret in api.secrets if secret in body
    ]
    assert not leaks, leaks
    log = api.log.read_text()
    assert not [secret for secret in api.secrets if secret in log], "a secret in the server log"
    assert not api.problems_logged(), "\n".join(api.problems_logged())
