"""`guardian`: serve, check, migrate, send-test, plugins, simulate, export, import, user add.

One module because it is one thing, the command line: each command is a short handler that
calls the module doing the work (guardian.app, transfer, simulate, accounts) and words its
answer; what they share (loading settings, masking secrets, exit codes) is here once."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import gc
import getpass
import json
import logging
import os
import signal
import sys
import threading
import tomllib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import tomli_w
from aiohttp import web

from guardian.clock import SystemClock
from guardian.delivery import AppriseSender, Deliverer, privacy_url
from guardian.logs import configure_logging, register_secrets
from guardian.plugin import PluginRegistry
from guardian.secrets import secrets_in, url_secrets
from guardian.settings import Settings, SettingsError, config_path, load_settings
from guardian.words import DeliveryKind, DeliveryStatus

EXIT_OK, EXIT_FAILED, EXIT_BAD_SETTINGS = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_BAD_SETTINGS
    # Only serve narrates its work; the one-shot commands print their results and warnings.
    configure_logging(
        args.log_level or ("INFO" if args.command == "serve" else "WARNING"), args.log_format
    )
    result: int = args.run(args)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="guardian", description="A self-hosted notification guardian for a family."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        help="settings file (default: $GUARDIAN_CONFIG or settings.toml in this directory)",
    )
    common.add_argument(
        "--log-level", help="DEBUG, INFO, WARNING, ERROR (default: INFO for serve, else WARNING)"
    )
    common.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="text lines (default), or one JSON object per line for a log shipper",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help: str, run: Any) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help, description=help)
        sub.set_defaults(run=run)
        return sub

    command("serve", "run Guardian: the webhooks, the scheduler, delivery", _serve)
    command("check", "validate the settings and print them, secrets masked", _check)
    command("migrate", "apply database migrations", _migrate)
    send_test = command("send-test", "send a test message to a member's channels", _send_test)
    send_test.add_argument("member", help="member id")
    command("plugins", "list installed plugins", _plugins)
    simulate = command(
        "simulate", "replay a scenario on a virtual clock and print the deliveries", _simulate
    )
    simulate.add_argument("file", type=Path, help="scenario, JSON Lines")
    simulate.add_argument("--until", help="end of the replay (ISO time with offset)")
    simulate.add_argument("--json", action="store_true", help="one JSON object per delivery")
    export = command(
        "export", "print the household from the database as settings.toml (with secrets)", _export
    )
    export.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write FILE (mode 0600), not stdout"
    )
    import_ = command("import", "make the database's household what a settings file says", _import)
    import_.add_argument(
        "file", nargs="?", type=Path, help="settings file (default: the --config file)"
    )
    user = commands.add_parser("user", help="dashboard logins", description="dashboard logins")
    user_commands = user.add_subparsers(dest="user_command", metavar="COMMAND", required=True)
    add = user_commands.add_parser(
        "add",
        parents=[common],
        help="add a dashboard login: a guardian's, or a child's (their own page only)",
    )
    add.set_defaults(run=_user_add)
    add.add_argument("username")
    add.add_argument(
        "--member",
        help="the member (id) this login belongs to; a child's login sees only their own page",
    )
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin (also when stdin is not a TTY)",
    )
    return parser


def _load(args: argparse.Namespace, registry: PluginRegistry | None = None) -> Settings | None:
    registry = registry or PluginRegistry.discover()
    path = config_path(args.config)
    try:
        return load_settings(path, registry.settings_models())
    except SettingsError as error:
        print(f"{path}: the settings are not usable:", file=sys.stderr)
        for problem in error.errors:
            print(f"  {problem}", file=sys.stderr)
        return None


def _serve(args: argparse.Namespace) -> int:
    from guardian.app import create_app
    from guardian.database import MigrationFailed

    registry = PluginRegistry.discover()
    settings = _load(args, registry)
    if settings is None:
        return EXIT_BAD_SETTINGS
    register_secrets(known_secrets(settings, registry))
    # `kill -USR1` prints every thread's stack to stderr: how to see where a process hangs.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    app = create_app(settings, SystemClock(), registry=registry)
    # What is loaded by now (modules, settings, plugins) lives as long as the process: out of
    # the cyclic collector's sight, each full collection scans only what requests allocate.
    gc.collect()
    gc.freeze()
    log = logging.getLogger("guardian")
    log.info("Guardian on http://%s:%d", settings.server.host, settings.server.port)
    try:
        web.run_app(
            app,
            host=settings.server.host,
            port=settings.server.port,
            shutdown_timeout=settings.server.shutdown_timeout.total_seconds(),
            print=None,
            access_log=None,
        )
    except MigrationFailed as error:
        where = mask_url_password(settings.database.url)
        print(f"{where}: the migrations could not be applied: {error}", file=sys.stderr)
        return EXIT_FAILED
    _exit_without_waiting_for_channels(log)
    return EXIT_OK


def _exit_without_waiting_for_channels(log: logging.Logger) -> None:
    """Everything is stopped and the database closed; a send that Apprise still waits on in a
    thread (a hanging channel, up to `delivery.timeout`) must not hold up the exit: its claim
    was released, and the next start sends it again."""
    waiting = [
        t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon
    ]
    if not waiting:
        return
    log.info("stopped; not waiting for %d sends still on their way to a channel", len(waiting))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_OK)


def masked(settings: Settings, registry: PluginRegistry) -> dict[str, Any]:
    """The effective settings as plain data, every secret masked."""
    data = settings.model_dump(mode="json", exclude_none=True)
    data["database"]["url"] = mask_url_password(settings.database.url)
    for member, raw in zip(data["members"], settings.members, strict=True):
        member["channels"] = [privacy_url(c.get_secret_value()) for c in raw.channels]
    models = registry.settings_models()
    for source, spec in zip(data["sources"], settings.sources, strict=True):
        model = models.get(spec.plugin)
        if model is None:
            continue
        own = model.model_validate(spec.plugin_settings())
        plain = own.model_dump(mode="json", exclude_none=True)  # SecretStr dumps masked
        source.update(plain)
    return data


def known_secrets(settings: Settings, registry: PluginRegistry) -> list[str]:
    """Every configured secret, for the log redactor: channel URLs (whole, and their passwords),
    the database password, and the sources' secret settings (a `whsec_` key also bare)."""
    found = secrets_in(
        (c.get_secret_value() for m in settings.members for c in m.channels),
        ((s.plugin, s.plugin_settings()) for s in settings.sources),
        registry,
    )
    # The database URL itself is logged masked, not hidden; its password is hidden.
    found.extend(url_secrets(settings.database.url)[1:])
    return found


def mask_url_password(url: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _check(args: argparse.Namespace) -> int:
    registry = PluginRegistry.discover()
    settings = _load(args, registry)
    if settings is None:
        return EXIT_BAD_SETTINGS
    print(f"# {config_path(args.config)}: OK (effective settings, secrets masked)")
    print(tomli_w.dumps(masked(settings, registry)))
    return EXIT_OK


def _migrate(args: argparse.Namespace) -> int:
    from guardian.database import MigrationFailed, migrate

    settings = _load(args)
    if settings is None:
        return EXIT_BAD_SETTINGS
    where = mask_url_password(settings.database.url)
    try:
        asyncio.run(migrate(settings.database.url))
    except MigrationFailed as error:
        print(f"{where}: the migrations could not be applied: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"migrations applied to {where}")
    return EXIT_OK


def _send_test(args: argparse.Namespace) -> int:
    settings = _load(args)
    if settings is None:
        return EXIT_BAD_SETTINGS
    return asyncio.run(send_test(settings, args.member))


async def send_test(settings: Settings, member_id: str) -> int:
    from guardian import household as household_store
    from guardian import transfer
    from guardian.database import opened
    from guardian.models import Delivery
    from guardian.summary import render_test

    clock = SystemClock()
    async with opened(settings.database.url):
        now = clock.now()
        await transfer.seed(settings, now)
        view = await household_store.load(settings.household.id)
        member = view.members.get(member_id)
        if member is None:
            known = ", ".join(sorted(view.members)) or "none"
            print(f"no member {member_id!r} (members: {known})", file=sys.stderr)
            return EXIT_FAILED
        test = render_test(member.name, language=member.language)
        delivery = await Delivery.create(
            household_id=view.id,
            member_id=member.pk,
            kind=DeliveryKind.TEST,
            dedup_key=f"test:{member.id}:{now.isoformat()}",
            title=test.title,
            body=test.body,
            created_at=now,
            next_attempt_at=now,
        )
        deliverer = Deliverer(
            AppriseSender(settings.delivery.timeout), settings.delivery, lambda: view
        )
        await deliverer.send_one(delivery, now)
        for channel in delivery.channels:
            detail = f" ({channel['detail']})" if channel.get("detail") else ""
            print(f"{channel['channel']}: {channel['status']}{detail}")
        print(f"test delivery {delivery.id}: {delivery.status}")
        return EXIT_OK if delivery.status == DeliveryStatus.SENT else EXIT_FAILED


def _plugins(args: argparse.Namespace) -> int:
    registry = PluginRegistry.discover()
    print(f"{'NAME':<14} {'VERSION':<10} {'KIND':<6} PACKAGE")
    for name, info in sorted(registry.plugins.items()):
        print(f"{name:<14} {info.version:<10} {info.kind:<6} {info.package}")
        if info.error:
            print(f"{'':<14} failed to load: {info.error}")
    return EXIT_FAILED if registry.broken() else EXIT_OK


def _simulate(args: argparse.Namespace) -> int:
    from guardian.scenario import ScenarioError
    from guardian.simulate import simulate

    registry = PluginRegistry.discover()
    settings = _load(args, registry)
    if settings is None:
        return EXIT_BAD_SETTINGS
    until = None
    if args.until:
        try:
            until = datetime.fromisoformat(args.until)
        except ValueError:
            until = None
        if until is None or until.tzinfo is None:
            print(f"--until: not an ISO time with offset: {args.until!r}", file=sys.stderr)
            return EXIT_BAD_SETTINGS
    try:
        deliveries = asyncio.run(simulate(settings, args.file, until=until, registry=registry))
    except ScenarioError as error:
        print(f"{args.file}: the scenario is not usable:", file=sys.stderr)
        for problem in error.errors:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    zone = settings.household.zone
    for d in deliveries:
        if args.json:
            print(json.dumps(d.as_json(), ensure_ascii=False))
        else:
            at = d.at.astimezone(zone).isoformat(timespec="minutes")
            body = " | ".join(d.body.splitlines())
            print(f"{at}  {d.member}  {d.kind}  {d.title}  {body}")
    return EXIT_OK


EXPORT_WARNING = (
    "warning: the export contains secrets (channel URLs, source secrets); keep it private"
)


def _export(args: argparse.Namespace) -> int:
    settings = _load(args)
    if settings is None:
        return EXIT_BAD_SETTINGS
    text = asyncio.run(export_toml(settings))
    print(EXPORT_WARNING, file=sys.stderr)
    if args.output is None:
        print(text, end="")
        return EXIT_OK
    try:
        write_private(args.output, text)
    except OSError as error:
        print(f"{args.output}: cannot write: {error.strerror}", file=sys.stderr)
        return EXIT_FAILED
    print(f"exported household {settings.household.id} to {args.output}")
    return EXIT_OK


async def export_toml(settings: Settings) -> str:
    """The database's household as settings.toml (seeded from settings first if empty)."""
    from guardian import transfer
    from guardian.database import opened
    from guardian.transfer import export_household, to_toml

    async with opened(settings.database.url):
        await transfer.seed(settings, SystemClock().now())
        data = await export_household(settings.household.id)
    header = (
        f"# Household {settings.household.id!r}, from `guardian export`. "
        "It holds secrets: keep it private.\n\n"
    )
    return header + to_toml(data)


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by its owner only (also when the file existed)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        os.fchmod(descriptor, 0o600)
        file.write(text)


def _import(args: argparse.Namespace) -> int:
    from guardian.transfer import check, household_data, import_household

    registry = PluginRegistry.discover()
    settings = _load(args, registry)
    if settings is None:
        return EXIT_BAD_SETTINGS
    config = config_path(args.config)
    path: Path = args.file or config
    if path.resolve() == config.resolve():
        data = household_data(settings)  # as loaded: with the environment's overrides
    else:
        try:
            with path.open("rb") as file:
                data = tomllib.load(file)
        except OSError as error:
            print(f"{path}: cannot read: {error.strerror}", file=sys.stderr)
            return EXIT_BAD_SETTINGS
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            print(f"{path}: not valid TOML: {error}", file=sys.stderr)
            return EXIT_BAD_SETTINGS
    models = registry.settings_models()

    async def run() -> str:
        from guardian.database import opened

        async with opened(settings.database.url):
            result = await import_household(
                data, SystemClock().now(), "cli", plugin_settings=models
            )
        return result.summary()

    try:
        household_id = check(data, models).household.id
        if household_id != settings.household.id:
            raise SettingsError(
                [
                    f"household.id: {household_id!r} is not the household of {config} "
                    f"({settings.household.id!r})"
                ]
            )
        summary = asyncio.run(run())
    except SettingsError as error:
        print(f"{path}: the household cannot be imported; nothing changed:", file=sys.stderr)
        for problem in error.errors:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    print(summary)
    return EXIT_OK


def _user_add(args: argparse.Namespace) -> int:
    from guardian.accounts import AccountError

    settings = _load(args)
    if settings is None:
        return EXIT_BAD_SETTINGS
    try:
        password = _read_password(args.username, args.password_stdin)
        linked = asyncio.run(add_user(settings, args.username, password, args.member))
    except AccountError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"added user {args.username}" + (f" for {linked[1]} {linked[0]}" if linked else ""))
    return EXIT_OK


def _read_password(username: str, from_stdin: bool) -> str:
    from guardian.accounts import AccountError

    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise AccountError("no password on stdin")
        return line.removesuffix("\n").removesuffix("\r")
    try:
        password = getpass.getpass(f"Password for {username}: ")
        again = getpass.getpass("The same password again: ")
    except (EOFError, KeyboardInterrupt):
        raise AccountError("no password given") from None
    if password != again:
        raise AccountError("the passwords do not match")
    return password


async def add_user(
    settings: Settings, username: str, password: str, member: str | None
) -> tuple[str, str] | None:
    """Add a dashboard login with its audit entry; the member it belongs to and their role
    (`guardian` or `child`), if any."""
    from tortoise.transactions import in_transaction

    from guardian import accounts, transfer
    from guardian.database import opened
    from guardian.models import AuditEntry, Member

    async with opened(settings.database.url):
        now = SystemClock().now()
        await transfer.seed(settings, now)
        household_id = settings.household.id
        async with in_transaction():
            user = await accounts.add_user(household_id, username, password, now, member=member)
            member_pk = user.member_id
            linked = await Member.get_or_none(id=member_pk) if member_pk is not None else None
            slug = linked.slug if linked else None
            await AuditEntry.create(
                household_id=household_id,
                at=now,
                actor="cli",
                action="user.add",
                target=username,
                detail={"member": slug, "role": user.role},
                members=f",{slug}," if slug else "",
            )
        return (slug, linked.role) if linked and slug else None
