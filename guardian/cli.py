"""`guardian`: serve, check, migrate, send-test, plugins, simulate."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import json
import logging
import re
import signal
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import tomli_w
from aiohttp import web
from pydantic import SecretStr

from guardian.clock import SystemClock
from guardian.delivery import AppriseSender, Deliverer, privacy_url
from guardian.logs import configure_logging, register_secrets
from guardian.plugin import PluginRegistry
from guardian.settings import Settings, SettingsError, config_path, load_settings

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

    registry = PluginRegistry.discover()
    settings = _load(args, registry)
    if settings is None:
        return EXIT_BAD_SETTINGS
    register_secrets(known_secrets(settings, registry))
    # `kill -USR1` prints every thread's stack to stderr: how to see where a process hangs.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    app = create_app(settings, SystemClock(), registry=registry)
    log = logging.getLogger("guardian")
    log.info("Guardian on http://%s:%d", settings.server.host, settings.server.port)
    web.run_app(
        app,
        host=settings.server.host,
        port=settings.server.port,
        shutdown_timeout=settings.server.shutdown_timeout.total_seconds(),
        print=None,
        access_log=None,
    )
    return EXIT_OK


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
    found: list[str] = []

    def url(value: str) -> None:
        found.append(value)
        parts = urlsplit(value)
        with contextlib.suppress(ValueError):
            if parts.password:
                found.extend([parts.password, unquote(parts.password)])
        # Tokens and keys that services put in the host or path (`tgram://BOT_TOKEN/CHAT`):
        # long pieces of letters and digits, unlike host names and ids.
        rest = value.split("://", 1)[-1]
        found.extend(
            piece
            for piece in re.split(r"[/:@?&=#]", rest)
            if len(piece) >= 16
            and "." not in piece
            and re.search(r"[A-Za-z]", piece)
            and re.search(r"\d", piece)
        )

    for member in settings.members:
        for channel in member.channels:
            url(channel.get_secret_value())
    url(settings.database.url)
    found.remove(settings.database.url)  # the URL itself is logged masked, not hidden
    models = registry.settings_models()
    for spec in settings.sources:
        model = models.get(spec.plugin)
        if model is None:
            continue
        with contextlib.suppress(ValueError):
            own = model.model_validate(spec.plugin_settings())
            for _, value in own:
                if isinstance(value, SecretStr):
                    secret = value.get_secret_value()
                    found.extend([secret, secret.removeprefix("whsec_")])
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
    from guardian.database import migrate

    settings = _load(args)
    if settings is None:
        return EXIT_BAD_SETTINGS
    asyncio.run(migrate(settings.database.url))
    print(f"migrations applied to {mask_url_password(settings.database.url)}")
    return EXIT_OK


def _send_test(args: argparse.Namespace) -> int:
    settings = _load(args)
    if settings is None:
        return EXIT_BAD_SETTINGS
    return asyncio.run(send_test(settings, args.member))


async def send_test(settings: Settings, member_id: str) -> int:
    from guardian import household as household_store
    from guardian.database import opened
    from guardian.models import Delivery

    clock = SystemClock()
    async with opened(settings.database.url):
        now = clock.now()
        await household_store.seed(settings, now)
        view = await household_store.load(settings.household.id)
        member = view.members.get(member_id)
        if member is None:
            known = ", ".join(sorted(view.members)) or "none"
            print(f"no member {member_id!r} (members: {known})", file=sys.stderr)
            return EXIT_FAILED
        delivery = await Delivery.create(
            household_id=view.id,
            member_id=member.pk,
            kind="test",
            dedup_key=f"test:{member.id}:{now.isoformat()}",
            title="Guardian test",
            body=f"Hello {member.name}, this is a test from Guardian. Your channel works.",
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
        return EXIT_OK if delivery.status == "sent" else EXIT_FAILED


def _plugins(args: argparse.Namespace) -> int:
    registry = PluginRegistry.discover()
    print(f"{'NAME':<14} {'VERSION':<10} {'KIND':<6} PACKAGE")
    for name, info in sorted(registry.plugins.items()):
        print(f"{name:<14} {info.version:<10} {info.kind:<6} {info.package}")
        if info.error:
            print(f"{'':<14} failed to load: {info.error}")
    return EXIT_FAILED if registry.broken() else EXIT_OK


def _simulate(args: argparse.Namespace) -> int:
    from guardian.simulate import ScenarioError, simulate

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
