"""The `cityloop` command (INTERFACES.md): serve, migrate, users, keys, devices, geo, projections, backup,
restore — and the
subcommands that other packages register under the `cityloop.commands` entry points (tools/: demo, simulate,
bench), which this module never imports."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from importlib.metadata import entry_points
from pathlib import Path

import asyncpg
from aiohttp import web
from pydantic import ValidationError

from connectors.iot import DEVICE_KINDS
from hub.identity.access import ROLES
from hub.infra import heap
from hub.infra.embedded import ServiceUrls, embedded_postgres, provide
from hub.infra.logs import setup_logging
from hub.infra.running import check_same_database, recorded
from hub.infra.settings import Settings, demo_secret_refusal

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _database(settings: Settings) -> Iterator[str]:
    if settings.database_url is not None:
        yield settings.database_url
    else:
        check_same_database(settings.run_dir, settings.data_dir)  # not a second database beside a running hub's
        with embedded_postgres(settings.data_dir) as url:
            yield url


def _resolved(settings: Settings, urls: ServiceUrls) -> Settings:
    return settings.model_copy(update={"database_url": urls.database_url, "redis_url": urls.redis_url,
                                       "mqtt_url": urls.mqtt_url})


# Subcommands from other packages: each entry point of this group names a function that takes the subparsers and
# adds its parser with `set_defaults(run=handler)`, handler(settings, args) -> exit code (tools/cli.py).
PLUGIN_COMMANDS = "cityloop.commands"

# What a plugin command (the demo) may add around `serve`: `prepare` runs on the migrated database before the hub
# starts; `while_serving` is entered once the hub listens and left before it stops.
Prepare = Callable[[asyncpg.Pool], Awaitable[object]]
WhileServing = Callable[[web.Application, str], AbstractAsyncContextManager[object]]


@contextlib.asynccontextmanager
async def _nothing(_app: web.Application, _base: str) -> AsyncIterator[None]:
    yield


async def _serve(settings: Settings, while_serving: WhileServing = _nothing, *, worker_of: int | None = None) -> None:
    """One hub process. `worker_of`: the pid of the `serve --workers` supervisor this process is a worker of
    (it then shares the port with its siblings, and stops when the supervisor is gone)."""
    heap.tune()  # before the hub's modules are imported: their import is most of start-up's allocations
    from hub.api.health import metrics_listener
    from hub.app import init_app
    from hub.infra.workers import parent_gone

    app = init_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_port=worker_of is not None)
    await site.start()
    metrics_runner = None
    if settings.metrics_port is not None:
        metrics_runner = web.AppRunner(metrics_listener(app), handle_signals=False, access_log=None)
        await metrics_runner.setup()
        await web.TCPSite(metrics_runner, settings.metrics_host, settings.metrics_port).start()
        print(f"CityLoop metrics on http://{settings.metrics_host}:{settings.metrics_port}/metrics", flush=True)
    frozen = heap.freeze_start_up()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    base = f"http://{settings.host}:{settings.port}"
    print(f"CityLoop hub listening on {base}" + (f" (worker pid {os.getpid()})" if worker_of else ""), flush=True)
    log.info("hub ready", extra={"pid": os.getpid(), "gc_frozen_objects": frozen})
    try:
        async with while_serving(app, base):
            if worker_of is None:
                await stop.wait()
            else:
                while not stop.is_set() and not parent_gone(worker_of):
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1.0):
                            await stop.wait()
    finally:
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        await runner.cleanup()


def _serve_workers(settings: Settings, count: int) -> int:
    """The supervisor of `serve --workers N`: migrate once, then run and watch N workers on one port."""
    from hub.infra.migrate import apply_migrations
    from hub.infra.workers import Supervisor, check_port_free

    assert settings.database_url is not None and settings.redis_url is not None
    try:
        port = check_port_free(settings.host, settings.port)
    except OSError as exc:
        print(f"cityloop serve: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return 2
    applied = apply_migrations(settings.database_url)
    if applied:
        log.info("migrations applied", extra={"migrations": applied})
    # The workers read the same environment, with what this process resolved (embedded servers' URLs, the
    # port) and without migrating again.
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "CITYLOOP_PORT": str(port), "CITYLOOP_MIGRATE_ON_START": "false"}
    if settings.mqtt_url is not None:
        env["MQTT_URL"] = settings.mqtt_url
    command = [sys.executable, "-m", "hub.cli", "serve", "--worker-of", str(os.getpid())]
    print(f"CityLoop hub: {count} workers on http://{settings.host}:{port} (supervisor pid {os.getpid()})",
          flush=True)
    return Supervisor(lambda index: [*command, "--worker-index", str(index)], env, count).run()


def cmd_serve(settings: Settings, *, start_mqtt: bool = False, prepare: Prepare | None = None,
              while_serving: WhileServing = _nothing, workers: int = 1, worker_of: int | None = None,
              command: str = "serve") -> int:
    # A plain `serve` runs the MQTT connector only when MQTT_URL says where the broker is; the demo asks for its own
    # Mosquitto (`start_mqtt`, when installed) so that the simulated sensors speak MQTT.
    with contextlib.ExitStack() as stack:
        urls = stack.enter_context(provide(settings.database_url, settings.redis_url, settings.data_dir,
                                           settings.mqtt_url, start_mqtt=start_mqtt))
        if settings.database_url is None:  # our embedded database: say where, for the other CLI commands
            stack.enter_context(recorded(settings.run_dir, command, settings.data_dir, urls.database_url))
        if prepare is not None:
            asyncio.run(_with_conn(urls.database_url, prepare))
        if settings.mqtt_broker_dir is not None and worker_of is None:
            # A new accounts volume, or a restored database, gets the registry's device accounts back.
            try:
                log.info(asyncio.run(_with_conn(urls.database_url, _write_broker_config, settings,
                                                settings.mqtt_broker_dir)))
            except (OSError, ValueError) as exc:
                log.error("the MQTT broker's files were not written: %s", exc)
        if workers > 1:
            return _serve_workers(_resolved(settings, urls), workers)
        asyncio.run(_serve(_resolved(settings, urls), while_serving, worker_of=worker_of))
    return 0


def cmd_migrate(settings: Settings) -> int:
    from hub.infra.migrate import apply_migrations

    with _database(settings) as url:
        applied = apply_migrations(url)
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


async def _with_conn(url: str, fn: object, *args: object, **kwargs: object) -> object:
    from hub.infra.db import create_pool
    from hub.infra.migrate import apply_migrations

    await asyncio.to_thread(apply_migrations, url)
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        return await fn(pool, *args, **kwargs)  # type: ignore[operator]
    finally:
        await pool.close()


def cmd_users_add(settings: Settings, name: str, role: str, area: str | None, display_name: str | None = None,
                  unit: str | None = None) -> int:
    from hub.identity.auth import add_user

    password = sys.stdin.readline().rstrip("\n")
    with _database(settings) as url:
        asyncio.run(_with_conn(url, add_user, name, password, role, area, display_name=display_name, unit=unit))
    print(f"user {name} ({role}{', ' + area if area else ''}) saved")
    return 0


def cmd_users_disable(settings: Settings, name: str) -> int:
    """Disable a user: no more sign-ins, every session ended (running hubs close the user's consoles within
    CITYLOOP_SESSION_CHECK_S)."""
    import getpass

    from hub.identity.auth import disable_user

    with _database(settings) as url:
        ended = asyncio.run(_with_conn(url, disable_user, name, by=f"cli:{getpass.getuser()}"))
    print(f"user {name} disabled; {ended} session(s) ended")
    return 0


def cmd_keys_add(settings: Settings, name: str, role: str, callback_origins: list[str]) -> int:
    from hub.identity.auth import add_api_key

    with _database(settings) as url:
        key = asyncio.run(_with_conn(url, add_api_key, name, role, callback_origins))
    print(key)
    return 0


def cmd_keys_origins(settings: Settings, name: str, add: list[str], remove: list[str]) -> int:
    from hub.identity.auth import set_callback_origins

    with _database(settings) as url:
        origins = asyncio.run(_with_conn(url, set_callback_origins, name, add, remove))
    assert isinstance(origins, list)
    print(f"callback origins of {name}: {', '.join(origins) if origins else '(none)'}")
    return 0


def cmd_devices(settings: Settings, args: argparse.Namespace) -> int:
    from connectors.iot import DeviceRegistration, alarm_topic
    from hub.services.iot.devices import DeviceRegistry, issue_credentials, register_device

    async def list_all(pool: asyncpg.Pool) -> None:
        for device in await DeviceRegistry(pool).list(args.kind, "", 10_000):
            loc = device["location"]
            account = "mqtt" if device["mqtt_account"] else "http-only"
            print(f"{device['device_id']:<20} {device['kind']:<14} {loc['lng']:.6f},{loc['lat']:.6f} "
                  f"{account:<9} {device['owner_unit'] or '-'} {device['name'] or ''}")

    async def add(pool: asyncpg.Pool) -> str | None:
        registration = DeviceRegistration.model_validate({
            "device_id": args.device_id, "kind": args.kind, "name": args.name, "owner_unit": args.owner,
            "location": {"lng": args.lng, "lat": args.lat, "crs": args.crs}})
        async with pool.acquire() as conn, conn.transaction():
            device = await register_device(conn, registration)
            print(f"device {device['device_id']} ({device['kind']}) at {device['location']['lng']:.6f},"
                  f"{device['location']['lat']:.6f} (WGS84) saved")
            try:  # a new device gets its MQTT account; a move keeps the one it has
                return await issue_credentials(conn, registration.device_id, only_if_none=True)
            except ValueError as exc:
                print(f"no MQTT account: {exc}; the device can report over HTTP only")
                return None

    async def account(pool: asyncpg.Pool) -> None:
        password = await (add(pool) if args.action == "add" else issue_credentials(pool, args.device_id))
        if password is None:
            if args.action == "add":
                print(f"MQTT credentials unchanged (`cityloop devices rotate {args.device_id}` issues new ones)")
            return
        # Printed before the broker's files are written: if that fails, the password issued is not lost.
        print(f"MQTT username: {args.device_id}\nMQTT password: {password}\n"
              f"publishes to:  {alarm_topic(args.device_id)} (QoS 1)\n"
              "The password is shown only this once: hand it to the device's installer now.", flush=True)
        if settings.mqtt_broker_dir is None:
            print("The broker learns it from `cityloop devices broker-config --out DIR` and a reload (SIGHUP).")
        else:
            print(await _write_broker_config(pool, settings, settings.mqtt_broker_dir))

    with _database(settings) as url:
        if args.action == "list":
            asyncio.run(_with_conn(url, list_all))
        elif args.action == "broker-config":
            folder = args.out or settings.mqtt_broker_dir
            if folder is None:
                print("cityloop devices broker-config: give --out DIR (or set CITYLOOP_MQTT_BROKER_DIR)",
                      file=sys.stderr)
                return 2
            print(asyncio.run(_with_conn(url, _write_broker_config, settings, folder)))
        else:
            asyncio.run(_with_conn(url, account))
    return 0


async def _write_broker_config(pool: asyncpg.Pool, settings: Settings, folder: Path) -> str:
    from hub.services.iot.devices import write_broker_config

    return await write_broker_config(pool, settings.mqtt_url, folder)


def cmd_learned(settings: Settings, args: argparse.Namespace) -> int:
    """What dispatchers' 研判 taught the hub: list, or revoke one entry (running hubs drop it within
    CITYLOOP_BOUNDARY_CHECK_S, the period of their learned-categories refresh)."""
    from hub.services.learned import LearnedCategories

    async def run(pool: asyncpg.Pool) -> int:
        learned = LearnedCategories(pool, None)
        if args.action == "revoke":
            entry = await learned.revoke(args.key, f"cli:{args.by}")
            if entry is None:
                print(f"cityloop learned: nothing learned under {args.key!r} is in force", file=sys.stderr)
                return 1
            print(f"revoked {entry['key']} → {entry['code']}")
            return 0
        for e in await learned.entries():
            state = f"revoked by {e['revoked_by']} at {e['revoked_at']}" if e["revoked_at"] else "in force"
            print(f"{e['key']:<24} {e['code']:<8} {e['original']!r} from {e['learned_from']} by {e['by']} "
                  f"at {e['at']} ({state})")
        return 0

    with _database(settings) as url:
        code = asyncio.run(_with_conn(url, run))
    return code if isinstance(code, int) else 1


def cmd_geo(settings: Settings, args: argparse.Namespace) -> int:
    from hub.services import geo_admin

    with _database(settings) as url:
        if args.action == "load":
            asyncio.run(_with_conn(url, geo_admin.load_file, Path(args.path), args.level, make_active=args.activate,
                                   code_field=args.code_field, name_field=args.name_field,
                                   parent_field=args.parent_field))
        elif args.action == "activate":
            asyncio.run(_with_conn(url, geo_admin.activate_version, args.version))
        else:
            asyncio.run(_with_conn(url, geo_admin.list_versions))
    return 0


def cmd_duty(settings: Settings, args: argparse.Namespace) -> int:
    """The duty roster (值班): set, list, clear. Changes are logged as "cli:<os user>"; a list shows the numbers
    (whoever runs this holds the database) and is recorded in the access audit like an unmasked API read."""
    import getpass
    from datetime import date

    from hub.app import load_policy
    from hub.identity import audit
    from hub.infra.clock import Clock
    from hub.services.boundaries import Boundaries
    from hub.services.duty import DutyAssignment, DutyRoster, today
    from hub.services.locator import area_chain

    by = f"cli:{getpass.getuser()}"
    day = date.fromisoformat(args.date) if args.date else today(Clock().now())

    async def run(pool: asyncpg.Pool) -> int:
        boundaries = Boundaries(pool, settings.near_boundary_m)
        await boundaries.refresh()  # the areas' names: a township's government is named after its township
        roster = DutyRoster(pool, load_policy(settings).matrix, lambda code: area_chain(boundaries.index, code))
        if args.action == "list":
            entries = await roster.on_day(day, [args.within] if args.within else [])
            for e in entries:
                unit = roster.unit(e["unit"])
                hours = f" {e['starts']}–{e['ends']}" if e["starts"] else ""
                print(f"{e['date']} {e['unit']:<16} {unit.name if unit else '?'} {e['shift'] or '全天'}{hours} "
                      f"{e['name']} {e['phone']}{' (' + e['note'] + ')' if e['note'] else ''} "
                      f"— set by {e['set_by']} at {e['set_at']}")
            if not entries:
                print(f"nobody is on the roster on {day.isoformat()}")
            else:
                await audit.record(pool, "personal_data_read", username=by, path="cli duty list",
                                   detail={"data": ["duty_phone"], "units": sorted({e["unit"] for e in entries})})
            return 0
        unit = roster.unit(args.unit)
        if unit is None:
            print(f"cityloop duty: unit: {args.unit!r} is no unit of the responsibility matrix "
                  "(e.g. 450103-gov, 450103-cgj, 450103001-gov)", file=sys.stderr)
            return 2
        if args.action == "clear":
            cleared = await roster.clear(unit.code, day, args.shift, by)
            print(f"{cleared} duty entr{'y' if cleared == 1 else 'ies'} of {unit.name} on {day.isoformat()} cleared")
            return 0
        entry = DutyAssignment.model_validate({
            "date": day, "name": args.name, "phone": args.phone, "shift": args.shift or "", "starts": args.starts,
            "ends": args.ends, "note": args.note})
        saved = await roster.set(unit.code, entry, by)
        print(f"{unit.name} ({unit.code}) {saved['date']} {saved['shift'] or '全天'}: {saved['name']} {saved['phone']}")
        return 0

    with _database(settings) as url:
        code = asyncio.run(_with_conn(url, run))
    return code if isinstance(code, int) else 1


async def _rebuild(pool: asyncpg.Pool, settings: Settings) -> None:
    from dispatch.sla import next_due_at
    from hub.app import load_policy
    from hub.store.alerts import rebuild_alerts
    from hub.store.directives import DirectiveProjection
    from hub.store.incidents import rebuild_incidents
    from hub.store.rebuild import rebuild_projections

    sla = load_policy(settings).sla
    count = await rebuild_projections(pool, (lambda case: next_due_at(case, sla)) if sla else None)
    print(f"cases rebuilt from {count:,} events")
    print(f"KPI assignments rebuilt from {count:,} events (the same pass)")
    count = await rebuild_alerts(pool)
    print(f"alerts rebuilt from {count:,} events")
    count = await DirectiveProjection(load_policy(settings).directives).rebuild(pool)
    print(f"directives rebuilt from {count:,} events")
    count = await rebuild_incidents(pool)
    print(f"incidents rebuilt from {count:,} events")


def cmd_rebuild(settings: Settings) -> int:
    with _database(settings) as url:
        asyncio.run(_with_conn(url, _rebuild, settings))
    return 0


def cmd_backup(settings: Settings, out: Path) -> int:
    """`cityloop backup --out FILE`: the whole database (pg_dump, custom format), hubs may keep running."""
    from hub.infra.backup import dump

    started = time.monotonic()
    with _database(settings) as url:
        tool = dump(url, out)
    print(f"backup: {out} ({out.stat().st_size / 1e6:,.1f} MB, {tool.path.name} {tool.major}, "
          f"{time.monotonic() - started:.1f} s)")
    return 0


async def _after_restore(pool: asyncpg.Pool, settings: Settings) -> None:
    from hub.infra.backup import continue_after_restore

    await continue_after_restore(pool)
    await _rebuild(pool, settings)


def cmd_restore(settings: Settings, archive: Path, force: bool) -> int:
    """`cityloop restore FILE [--force]`: a backup into an empty database, then the migrations it predates and
    the projections rebuilt from its events (the event store is the truth)."""
    from hub.infra.backup import restore

    with _database(settings) as url:
        started = time.monotonic()
        tool = restore(url, archive, force=force)
        print(f"restored {archive} with {tool.path.name} {tool.major} ({time.monotonic() - started:.1f} s)")
        started = time.monotonic()
        asyncio.run(_with_conn(url, _after_restore, settings))
        print(f"migrated and rebuilt ({time.monotonic() - started:.1f} s)")
    return 0


def cmd_import_tickets(settings: Settings, path: Path, batch: int) -> int:
    """`cityloop import tickets PATH`: history from an earlier 12345 system (hub.services.history_import), with
    a progress bar (rich) and a summary; exit code 1 when a line was rejected."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from hub.app import load_policy
    from hub.services.history_import import HistoryImporter, ImportSummary, read_lines

    if not path.is_file():
        print(f"cityloop import: no such file: {path}", file=sys.stderr)
        return 2
    with path.open("rb") as f:
        total = sum(1 for _ in f)
    policy = load_policy(settings)

    async def run(pool: asyncpg.Pool) -> ImportSummary:
        importer = await HistoryImporter.open(pool, policy, settings.near_boundary_m, batch=batch)
        with Progress(TextColumn("importing {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), transient=False) as progress:
            task = progress.add_task(path.name, total=total)
            return await importer.run(read_lines(path), lambda n: progress.advance(task, n))

    with _database(settings) as url:
        summary = asyncio.run(_with_conn(url, run))
    assert isinstance(summary, ImportSummary)
    rate = summary.imported / summary.seconds if summary.seconds else 0.0
    print(f"imported: {summary.imported:,}  already there: {summary.already_there:,}  "
          f"rejected: {len(summary.rejected):,}  ({summary.seconds:.1f} s, {rate:,.0f} tickets/s)")
    for rejected in summary.rejected:
        print(rejected)
    return 1 if summary.rejected else 0


def run_with_database(settings: Settings, fn: Callable[[asyncpg.Pool], Awaitable[object]]) -> object:
    """For plugin commands: `fn` on a pool of the database the built-in commands use (DATABASE_URL, else the
    embedded one under CITYLOOP_DATA_DIR), migrated first."""
    with _database(settings) as url:
        return asyncio.run(_with_conn(url, fn))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cityloop", description="CityLoop city operations hub")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="the hub alone (HTTP API, websockets, timers)")
    serve.add_argument("--workers", type=_positive, default=1, metavar="N",
                       help="N hub processes sharing the port (SO_REUSEPORT), supervised by this one; "
                            "one of them leads the timers, outbox and MQTT (default 1: this process serves)")
    serve.add_argument("--worker-of", type=int, help=argparse.SUPPRESS)  # set by the supervisor for its workers
    # Which of them (0 … N-1): a stable MQTT client id, and the worker's own metrics port.
    serve.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)
    sub.add_parser("migrate", help="apply pending SQL migrations")
    users = sub.add_parser("users", help="manage users").add_subparsers(dest="action", required=True)
    add_user = users.add_parser("add", help="create or update a user; the password is read from stdin")
    add_user.add_argument("name")
    add_user.add_argument("--role", required=True, choices=sorted(ROLES - {"hotline", "iot", "open311"}))
    add_user.add_argument("--area", help="jurisdiction code (county 6, township 9, community 12 digits)")
    add_user.add_argument("--display-name", help="the name consoles show for this user's actions (e.g. 张伟)")
    add_user.add_argument("--unit", help="the matrix unit whose cases the user handles (township handlers: "
                                         "their township's government unless given)")
    add_user.add_argument("--password-stdin", action="store_true", required=True)
    disable = users.add_parser("disable", help="disable a user: no more sign-ins, every session ended at once")
    disable.add_argument("name")
    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="action", required=True)
    add_key = keys.add_parser("add", help="create an API key for a machine client and print it once")
    add_key.add_argument("name")
    add_key.add_argument("--role", required=True, choices=["hotline", "iot", "open311"])
    add_key.add_argument("--callback-origin", action="append", default=[], metavar="URL",
                         help="hotline keys: an origin (scheme://host[:port]) its tickets' callback_url may use; "
                              "repeatable")
    key_origins = keys.add_parser("origins", help="show, add or remove a hotline key's callback origins")
    key_origins.add_argument("name")
    key_origins.add_argument("--add", action="append", default=[], metavar="URL", help="repeatable")
    key_origins.add_argument("--remove", action="append", default=[], metavar="URL", help="repeatable")
    devices = sub.add_parser("devices", help="the IoT device registry").add_subparsers(dest="action", required=True)
    add_device = devices.add_parser("add", help="register (or move) a device; a new one's MQTT password is "
                                                "printed once")
    add_device.add_argument("device_id")
    add_device.add_argument("--kind", required=True, choices=sorted(DEVICE_KINDS))
    add_device.add_argument("--lng", required=True, type=float)
    add_device.add_argument("--lat", required=True, type=float)
    add_device.add_argument("--crs", default="wgs84", choices=["wgs84", "gcj02", "bd09"])
    add_device.add_argument("--name", help="a name people recognise (e.g. 民族大道积水监测点)")
    add_device.add_argument("--owner", help="the owning unit's code")
    list_devices = devices.add_parser("list", help="list registered devices")
    list_devices.add_argument("--kind", choices=sorted(DEVICE_KINDS))
    rotate = devices.add_parser("rotate", help="issue a device a new MQTT password and print it once (the old one "
                                               "stops working when the broker reloads its files)")
    rotate.add_argument("device_id")
    broker = devices.add_parser("broker-config", help="write Mosquitto's password and ACL files for every device "
                                                      "and the hub's account (MQTT_URL's user)")
    broker.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="default: CITYLOOP_MQTT_BROKER_DIR")
    geo = sub.add_parser("geo", help="boundary versions").add_subparsers(dest="action", required=True)
    load = geo.add_parser("load", help="load a boundary file (GeoJSON, GeoPackage, Shapefile) as a new version")
    load.add_argument("path")
    load.add_argument("--level", required=True, choices=["county", "township", "community", "grid"])
    load.add_argument("--activate", action="store_true", help="switch it on at once (atomically)")
    load.add_argument("--code-field", help="attribute holding the area code (default: code, adcode, …)")
    load.add_argument("--name-field", help="attribute holding the name (default: name)")
    load.add_argument("--parent-field", help="attribute holding the parent's code (default: from the code)")
    act = geo.add_parser("activate", help="switch a loaded version on")
    act.add_argument("version", type=int)
    geo.add_parser("versions", help="list boundary versions")
    learned = sub.add_parser("learned", help="what the hub learned from dispatchers' category choices").add_subparsers(
        dest="action", required=True)
    learned.add_parser("list", help="every learned hotline wording → category, revoked ones too")
    revoke = learned.add_parser("revoke", help="stop applying a learned wording (kept, with who revoked it)")
    revoke.add_argument("key", help="the normalised wording, as `learned list` shows it")
    revoke.add_argument("--by", default=os.environ.get("USER", "admin"), help="who revokes it (recorded)")
    duty = sub.add_parser("duty", help="the duty roster (值班): who is on duty in a unit on a day").add_subparsers(
        dest="action", required=True)
    duty_set = duty.add_parser("set", help="put an officer on a unit's roster for a day (replaces the same shift)")
    duty_set.add_argument("unit", help="a matrix unit code: 450103-gov, 450103-cgj, 450103001-gov, 450100-zhzx")
    duty_set.add_argument("--date", help="YYYY-MM-DD, the local day the shift starts (default today)")
    duty_set.add_argument("--name", required=True)
    duty_set.add_argument("--phone", required=True, help="a mainland mobile or landline number")
    duty_set.add_argument("--shift", help="a shift label (白班, 夜班); default the whole day")
    duty_set.add_argument("--starts", help="the shift's local start, HH:MM (with --ends and --shift)")
    duty_set.add_argument("--ends", help="the shift's local end, HH:MM; not after --starts: the next morning")
    duty_set.add_argument("--note")
    duty_list = duty.add_parser("list", help="every officer on the roster on a day")
    duty_list.add_argument("--date", help="YYYY-MM-DD (default today)")
    duty_list.add_argument("--within", help="only units inside this area code")
    duty_clear = duty.add_parser("clear", help="take a unit's officers of a day (or one shift) off the roster")
    duty_clear.add_argument("unit")
    duty_clear.add_argument("--date", help="YYYY-MM-DD (default today)")
    duty_clear.add_argument("--shift", help="only this shift (default: every shift of the day)")
    imports = sub.add_parser("import", help="history from an earlier system").add_subparsers(dest="action",
                                                                                             required=True)
    tickets = imports.add_parser("tickets", help="12345 tickets (JSON Lines, the push API's schema plus `outcome`) "
                                                 "recorded at their original times, idempotent by ticket_no")
    tickets.add_argument("path", type=Path)
    tickets.add_argument("--batch", type=_positive, default=500, help="tickets per transaction")
    projections = sub.add_parser("projections", help="read models").add_subparsers(dest="action", required=True)
    projections.add_parser("rebuild", help="rebuild the cases and KPI tables from the events (hubs may keep running)")
    backup = sub.add_parser("backup", help="dump the database (pg_dump, custom format); hubs may keep running")
    backup.add_argument("--out", required=True, type=Path, metavar="FILE")
    restore = sub.add_parser("restore", help="restore a backup into an empty database, then rebuild the projections")
    restore.add_argument("archive", type=Path, metavar="FILE")
    restore.add_argument("--force", action="store_true",
                         help="restore into a database that is not empty, replacing what the backup contains")
    for command in sorted(entry_points(group=PLUGIN_COMMANDS), key=lambda e: e.name):
        try:
            register = command.load()
        except ImportError as exc:  # a broken install must not take the hub's own commands down with it
            print(f"cityloop: the {command.name!r} command is not available: {exc}", file=sys.stderr)
            continue
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:  # e.g. a default callback URL outside the allowed origins: refuse to start
        print(f"cityloop: invalid settings: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_json)
    try:
        if args.command == "serve":
            refusal = demo_secret_refusal(settings)
            if refusal is not None:
                print(f"cityloop serve: {refusal}", file=sys.stderr)
                return 2
            if settings.metrics_port is not None and args.worker_index:
                # Each worker its own metrics listener (hub.infra.settings): one scrape target per process.
                settings = settings.model_copy(update={"metrics_port": settings.metrics_port + args.worker_index})
            if args.worker_index is not None and settings.mqtt_shared_group is not None:
                # Each worker shares the subscription under an id of its own, the same after a restart: it takes
                # its broker session back, with the messages it had not acknowledged.
                settings = settings.model_copy(
                    update={"mqtt_client_id": f"{settings.mqtt_client_id}-w{args.worker_index}"})
            return cmd_serve(settings, workers=args.workers, worker_of=args.worker_of)
        if args.command == "migrate":
            return cmd_migrate(settings)
        if args.command == "users" and args.action == "disable":
            return cmd_users_disable(settings, args.name)
        if args.command == "users":
            return cmd_users_add(settings, args.name, args.role, args.area, args.display_name, args.unit)
        if args.command == "keys" and args.action == "origins":
            return cmd_keys_origins(settings, args.name, args.add, args.remove)
        if args.command == "keys":
            return cmd_keys_add(settings, args.name, args.role, args.callback_origin)
        if args.command == "import":
            return cmd_import_tickets(settings, args.path, args.batch)
        if args.command == "projections":
            return cmd_rebuild(settings)
        if args.command == "backup":
            return cmd_backup(settings, args.out)
        if args.command == "restore":
            return cmd_restore(settings, args.archive, args.force)
        if args.command == "geo":
            return cmd_geo(settings, args)
        if args.command == "devices":
            return cmd_devices(settings, args)
        if args.command == "learned":
            return cmd_learned(settings, args)
        if args.command == "duty":
            return cmd_duty(settings, args)
        if hasattr(args, "run"):  # a plugin command
            return int(args.run(settings, args))
    except ValidationError as exc:  # a field of `duty set`, named
        print(f"cityloop {args.command}: " + "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors(include_url=False)),
            file=sys.stderr)
        return 2
    except (ValueError, asyncpg.PostgresError) as exc:
        print(f"cityloop {args.command}: {exc}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
