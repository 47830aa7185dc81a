"""Dashboard accounts: argon2 password hashes, browser sessions, API tokens, login rate limits.

Only guardians get accounts. Cookie values and API tokens are random; the database keeps only
their SHA-256, so a copy of the database opens no session. Time comes from the injected clock.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from tortoise.exceptions import IntegrityError

from guardian.models import ApiToken, Member, User, WebSession

SESSION_LIFETIME = timedelta(days=14)
#: API tokens carry a recognisable prefix, so that log redaction and secret scanners find them.
TOKEN_PREFIX = "gdn_"  # noqa: S105 - a prefix, not a secret
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD = 8

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verifying against this when the user does not exist costs the same as a real check, so
    the answer time does not tell which usernames exist. Made on first use: a hash costs about a
    second, which every command would otherwise pay at import."""
    return _hasher.hash(secrets.token_urlsafe(16))


#: The form field that carries a session's CSRF token (the API takes the X-CSRF-Token header).
CSRF_FIELD = "csrf_token"


class AccountError(ValueError):
    """A request about accounts that cannot be done, with a reason a person can act on."""


@dataclass(frozen=True)
class Principal:
    """Who is making a request: a logged-in guardian (by session) or a script (by token)."""

    user_id: int
    username: str
    household_id: str
    via: str  # "session" or "token"
    csrf_token: str | None = None
    session_id: int | None = None
    #: The guardian member this login belongs to, if it is linked to one.
    member: str | None = None


#: Where the authentication middleware leaves who made a request.
PRINCIPAL = web.RequestKey("principal", Principal)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def add_user(
    household_id: str, username: str, password: str, now: datetime, *, member: str | None = None
) -> User:
    """A login for a guardian; a child (by `member`, or whose id is the username) is refused."""
    if not USERNAME.fullmatch(username):
        raise AccountError(
            "a username is 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    linked = None
    if member is not None:
        linked = await Member.get_or_none(household_id=household_id, slug=member)
        if linked is None:
            raise AccountError(f"no member {member!r} in the household")
    else:
        linked = await Member.get_or_none(household_id=household_id, slug=username)
    if linked is not None and linked.role != "guardian":
        raise AccountError(f"{linked.slug!r} is a child: children have no admin access")
    if await User.filter(household_id=household_id, username=username).exists():
        raise AccountError(f"the user {username!r} already exists")
    try:
        return await User.create(
            household_id=household_id,
            username=username,
            password_hash=hash_password(password),
            member=linked,
            created_at=now,
        )
    except IntegrityError:
        raise AccountError(f"the user {username!r} already exists") from None


async def check_password(household_id: str, username: str, password: str) -> User | None:
    user = await User.get_or_none(household_id=household_id, username=username)
    try:
        _hasher.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        await user.save(update_fields=["password_hash"])
    return user


async def open_session(user: User, now: datetime) -> tuple[str, WebSession]:
    """A new session for `user`; the cookie value is returned once and stored only hashed."""
    token = secrets.token_urlsafe(32)
    session = await WebSession.create(
        user=user,
        token_hash=digest(token),
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
    )
    return token, session


async def session_principal(token: str, household_id: str, now: datetime) -> Principal | None:
    session = await WebSession.get_or_none(token_hash=digest(token)).prefetch_related(
        "user__member"
    )
    if session is None or session.expires_at <= now:
        return None
    user: User = session.user
    if user.household_id != household_id:  # type: ignore[attr-defined]
        return None
    return Principal(
        user_id=user.id,
        username=user.username,
        household_id=household_id,
        via="session",
        csrf_token=session.csrf_token,
        session_id=session.id,
        member=user.member.slug if user.member else None,
    )


async def close_session(session_id: int) -> None:
    await WebSession.filter(id=session_id).delete()


async def purge_sessions(now: datetime) -> None:
    await WebSession.filter(expires_at__lte=now).delete()


async def create_token(user_id: int, name: str, now: datetime) -> tuple[str, ApiToken]:
    """A new API token; its value is returned once and stored only hashed."""
    value = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = await ApiToken.create(
        user_id=user_id, name=name, token_hash=digest(value), created_at=now
    )
    return value, token


async def token_principal(value: str, household_id: str, now: datetime) -> Principal | None:
    token = await ApiToken.get_or_none(token_hash=digest(value)).prefetch_related("user__member")
    if token is None:
        return None
    user: User = token.user
    if user.household_id != household_id:  # type: ignore[attr-defined]
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        await ApiToken.filter(id=token.id).update(last_used_at=now)
    return Principal(
        user_id=user.id,
        username=user.username,
        household_id=household_id,
        via="token",
        member=user.member.slug if user.member else None,
    )


def same_token(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


@dataclass
class LoginLimiter:
    """At most `attempts` failed logins per `window`, per client address and per username."""

    attempts: int = 5
    window: timedelta = timedelta(minutes=15)
    _failures: dict[str, deque[datetime]] = field(default_factory=dict)

    def retry_after(self, keys: tuple[str, ...], now: datetime) -> int:
        """Seconds until one of `keys` may try again; 0 if none is limited."""
        wait = 0.0
        for key in keys:
            recent = self._recent(key, now)
            if len(recent) >= self.attempts:
                wait = max(wait, (recent[0] + self.window - now).total_seconds())
        return max(int(wait) + 1, 1) if wait > 0 else 0

    def failed(self, keys: tuple[str, ...], now: datetime) -> None:
        for key in keys:
            self._recent(key, now).append(now)

    def succeeded(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        recent = self._failures.setdefault(key, deque())
        while recent and now - recent[0] >= self.window:
            recent.popleft()
        if not recent and len(self._failures) > 10_000:  # bounded memory under a spray
            self._failures.clear()
            recent = self._failures.setdefault(key, deque())
        return recent
