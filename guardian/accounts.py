"""Dashboard accounts: argon2 password hashes, browser sessions, API tokens, login rate limits.

Guardians get accounts that see and change the household; a child may get one too, which shows
them only their own page (guardian.auth decides what a child's login may open). Cookie values
and API tokens are random; the database keeps only their SHA-256, so a copy of the database
opens no session. Time comes from the injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import math
import os
import re
import secrets
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from tortoise.exceptions import IntegrityError

from guardian.models import ApiToken, Member, User, WebSession
from guardian.words import Role

SESSION_LIFETIME = timedelta(days=14)
#: API tokens carry a recognisable prefix, so that log redaction and secret scanners find them.
TOKEN_PREFIX = "gdn_"  # noqa: S105 - a prefix, not a secret
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD = 8
#: Hashes computed at once: one core is left to the event loop (a hash uses one for ~150 ms).
HASH_CONCURRENCY = max(1, (os.cpu_count() or 2) - 1)
#: How much the hashing threads give way to the event loop (nice(1) niceness; 19 is the most).
HASH_NICENESS = 10

_hasher = PasswordHasher()
T = TypeVar("T")


@functools.cache
def _dummy_hash() -> str:
    """Verifying against this when the user does not exist costs the same as a real check, so
    the answer time does not tell which usernames exist. Made on first use: a hash costs about a
    second, which every command would otherwise pay at import."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _verified(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _yield_cpu() -> None:
    """Lower this worker thread's priority (Linux: a thread is a task of its own)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICENESS)


class PasswordHashing:
    """argon2 off the event loop, in its own worker threads, at most `concurrency` at a time.

    A hash takes about 150 ms of CPU: on the event loop, every login would stop ingest, the
    timer and every page for that long, and a few parallel logins for seconds. argon2 releases
    the GIL, so the loop keeps answering while a thread hashes; the threads also run at a
    lower priority, so that on a small machine the loop gets the CPU first.
    """

    def __init__(self, concurrency: int = HASH_CONCURRENCY) -> None:
        self._pool = ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="argon2", initializer=_yield_cpu
        )

    async def _run(self, work: Callable[..., T], *args: str | None) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def hash(self, password: str) -> str:
        return await self._run(_hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches; with no hash (no such user), a check that costs as much."""
        return await self._run(_verified, password_hash, password)


#: The form field that carries a session's CSRF token (the API takes the X-CSRF-Token header).
CSRF_FIELD = "csrf_token"


class AccountError(ValueError):
    """A request about accounts that cannot be done, with a reason a person can act on."""


@dataclass(frozen=True)
class Principal:
    """Who is making a request: a logged-in guardian or child (by session), or a script (by
    token)."""

    user_id: int
    username: str
    household_id: str
    via: str  # "session" or "token"
    csrf_token: str | None = None
    session_id: int | None = None
    #: The member this login belongs to, if it is linked to one.
    member: str | None = None
    #: The login of a guardian (the whole dashboard), or of a child, who sees only their own
    #: page and changes nothing.
    role: Role = Role.GUARDIAN
    #: The dashboard's language this login chose on the page; None for automatic.
    language: str | None = None

    @property
    def is_child(self) -> bool:
        return self.role == Role.CHILD

    @property
    def own_page(self) -> str | None:
        """A child's own page, where their login goes; None for a guardian's login (or a
        child's whose member is gone)."""
        if not self.is_child or self.member is None:
            return None
        return f"/members/{self.member}/transparency"


#: Where the authentication middleware leaves who made a request.
PRINCIPAL = web.RequestKey("principal", Principal)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@contextlib.contextmanager
def _using(hashing: PasswordHashing | None) -> Iterator[PasswordHashing]:
    """`hashing`, or threads of its own for one command (`guardian user add`)."""
    if hashing is not None:
        yield hashing
        return
    own = PasswordHashing()
    try:
        yield own
    finally:
        own.close()


@dataclass(frozen=True)
class NewUser:
    """A login checked and its password hashed, ready to be stored (`create_user`)."""

    household_id: str
    username: str
    password_hash: str = field(repr=False)
    member: Member | None


async def new_user(
    household_id: str,
    username: str,
    password: str,
    *,
    member: str | None = None,
    hashing: PasswordHashing | None = None,
) -> NewUser:
    """Check a new login and hash its password (outside any transaction: it takes ~150 ms).
    It belongs to `member`, or to the member whose id is the username, or to no member."""
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
    if await User.filter(household_id=household_id, username=username).exists():
        raise AccountError(f"the user {username!r} already exists")
    with _using(hashing) as threads:
        password_hash = await threads.hash(password)
    return NewUser(household_id, username, password_hash, linked)


async def create_user(new: NewUser, now: datetime) -> User:
    """Store a login; a child's is marked as a child's for good (see `role_of`)."""
    linked = new.member
    try:
        return await User.create(
            household_id=new.household_id,
            username=new.username,
            password_hash=new.password_hash,
            member=linked,
            role=Role.CHILD if linked is not None and linked.role == Role.CHILD else Role.GUARDIAN,
            created_at=now,
        )
    except IntegrityError:
        raise AccountError(f"the user {new.username!r} already exists") from None


async def add_user(
    household_id: str,
    username: str,
    password: str,
    now: datetime,
    *,
    member: str | None = None,
    hashing: PasswordHashing | None = None,
) -> User:
    """A login for a member (by `member`, or whose id is the username) or for a guardian with
    no member; a child's login opens only the child's own page."""
    checked = await new_user(household_id, username, password, member=member, hashing=hashing)
    return await create_user(checked, now)


def role_of(user: User) -> Role:
    """A child's login stays a child's: when it was made for a child, and when its member is a
    child now. A login whose child member was removed does not become a guardian's."""
    member: Member | None = user.member
    if user.role == Role.CHILD or (member is not None and member.role == Role.CHILD):
        return Role.CHILD
    return Role.GUARDIAN


async def check_password(
    household_id: str, username: str, password: str, hashing: PasswordHashing | None = None
) -> User | None:
    user = await User.get_or_none(household_id=household_id, username=username)
    with _using(hashing) as threads:
        if not await threads.verify(user.password_hash if user else None, password):
            return None
        if user is not None and _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = await threads.hash(password)
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
    if user.household_id != household_id:
        return None
    return Principal(
        user_id=user.id,
        username=user.username,
        household_id=household_id,
        via="session",
        csrf_token=session.csrf_token,
        session_id=session.id,
        member=user.member.slug if user.member else None,
        role=role_of(user),
        language=user.language,
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
    if user.household_id != household_id:
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        await ApiToken.filter(id=token.id).update(last_used_at=now)
    return Principal(
        user_id=user.id,
        username=user.username,
        household_id=household_id,
        via="token",
        member=user.member.slug if user.member else None,
        role=role_of(user),
        language=user.language,
    )


def same_token(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


@dataclass
class LoginLimiter:
    """At most `attempts` logins tried per `window`, per username and per client address.

    An attempt is counted when it starts, before its password is checked (`take`): parallel
    guesses cannot all pass the limit while the first ones are still being verified. A login
    that succeeds gives its own attempt back and forgets its username's failures. Memory is
    bounded: past `max_keys`, the keys tried longest ago are forgotten, one at a time.
    """

    attempts: int = 5
    window: timedelta = timedelta(minutes=15)
    max_keys: int = 10_000
    _tries: OrderedDict[str, deque[datetime]] = field(default_factory=OrderedDict)

    def take(self, keys: tuple[str, ...], now: datetime) -> int:
        """Count an attempt for each of `keys` and answer 0; or, when one of them has used up
        its attempts, count nothing and answer the seconds until it may try again."""
        wait = self.retry_after(keys, now)
        if wait:
            return wait
        for key in keys:
            tries = self._tries.pop(key, None) or deque()
            tries.append(now)
            self._tries[key] = tries  # now the most recently tried
        while len(self._tries) > self.max_keys:
            self._tries.popitem(last=False)
        return 0

    def retry_after(self, keys: tuple[str, ...], now: datetime) -> int:
        """Seconds until all of `keys` may try again; 0 if none is limited."""
        wait = 0.0
        for key in keys:
            recent = self._recent(key, now)
            if len(recent) >= self.attempts:
                wait = max(wait, (recent[0] + self.window - now).total_seconds())
        return max(math.ceil(wait), 1) if wait > 0 else 0

    def succeeded(self, keys: tuple[str, ...], taken_at: datetime, *, forget: str) -> None:
        """The attempt taken at `taken_at` succeeded: it no longer counts, and neither do the
        earlier failures of the key `forget` (the username, whose password was just proven)."""
        for key in keys:
            tries = self._tries.get(key)
            if key == forget or not tries:
                self._tries.pop(key, None)
                continue
            with contextlib.suppress(ValueError):  # already forgotten (evicted, expired)
                tries.remove(taken_at)
            if not tries:
                del self._tries[key]

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        tries = self._tries.get(key)
        if tries is None:
            return deque()
        while tries and now - tries[0] >= self.window:
            tries.popleft()
        if not tries:
            del self._tries[key]
        return tries
