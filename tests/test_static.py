"""The pages' styles, scripts and icon, served from memory: each with its type and an ETag, so
a browser that asks again gets a 304; nothing else under /static/ is found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from guardian.dashboard import ASSETS
from tests.conftest import at

EVENING = at("2026-11-25T20:00:00+01:00")
STATIC = Path(__file__).parents[1] / "guardian" / "dashboard" / "static"


async def test_every_static_file_is_served_with_its_type_and_an_etag(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), EVENING)
    assert set(ASSETS) == {p.name for p in STATIC.iterdir()}
    types = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
    for path in sorted(STATIC.iterdir()):
        answer = await running.client.get(f"/static/{path.name}")
        assert answer.status == 200, path.name
        assert answer.content_type == types[path.suffix]
        assert await answer.read() == path.read_bytes()
        etag = answer.headers["ETag"]
        again = await running.client.get(f"/static/{path.name}", headers={"If-None-Match": etag})
        assert (again.status, again.headers["ETag"], await again.read()) == (304, etag, b"")
    icon = await running.client.get("/favicon.ico")
    assert (icon.status, await icon.read()) == (200, (STATIC / "favicon.svg").read_bytes())


@pytest.mark.parametrize(
    "path",
    [
        "/static/nothing.css",
        "/static/",
        "/static/..%2Fsettings.toml",
        "/static/style.css/x",
    ],
)
async def test_anything_else_under_static_is_not_found(
    write_settings: Any, start_guardian: Any, path: str
) -> None:
    running = await start_guardian(write_settings(), EVENING)
    answer = await running.client.get(path)
    assert answer.status == 404
    assert b"[server]" not in await answer.read()
