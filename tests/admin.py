"""Helpers for tests of the admin API and the dashboard: a guardian login and an API token."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from guardian import accounts
from tests.conftest import Running

USERNAME = "sam"  # the guardian member of the test household
PASSWORD = "correct horse battery"


@dataclass
class AdminClient:
    """The running app, reached as a logged-in guardian: by API token and by session."""

    running: Running
    token: str
    set_cookie: list[str] = field(default_factory=list)

    @property
    def client(self) -> Any:
        return self.running.client

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def get(self, path: str, **kwargs: Any) -> Any:
        return await self.client.get(f"/api/v1{path}", headers=self._headers(), **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return await self.client.post(
            f"/api/v1{path}", json=json, headers=self._headers(), **kwargs
        )

    async def put(self, path: str, json: Any = None) -> Any:
        return await self.client.put(f"/api/v1{path}", json=json, headers=self._headers())

    async def patch(self, path: str, json: Any = None) -> Any:
        return await self.client.patch(f"/api/v1{path}", json=json, headers=self._headers())

    async def delete(self, path: str) -> Any:
        return await self.client.delete(f"/api/v1{path}", headers=self._headers())

    async def login(self, username: str = USERNAME, password: str = PASSWORD) -> str:
        """Log the test client in with a session cookie; returns the session's CSRF token."""
        page = await self.client.get("/login")
        login_token = _field(await page.text(), "csrf_token")
        response = await self.client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": login_token},
            allow_redirects=False,
        )
        assert response.status == 303, await response.text()
        self.set_cookie = response.headers.getall("Set-Cookie")
        home = await self.client.get("/")  # a child's login is sent on to their own page
        return _field(await home.text(), "csrf_token")


def _field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found, f"no {name} field in the page"
    return found.group(1)


async def admin_client(running: Running) -> AdminClient:
    """Create the guardian login `sam` and an API token on a started app."""
    now = running.clock.now()
    household = running.service.household().id
    user = await accounts.add_user(household, USERNAME, PASSWORD, now)
    token, _ = await accounts.create_token(user.id, "tests", now)
    return AdminClient(running, token)
