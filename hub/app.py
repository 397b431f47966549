"""The composition root: the one place that builds resources, wires them and owns background tasks.

Everything opened here is closed here (aiohttp `cleanup_ctx`), and every background task is
cancelled and awaited at shutdown. Nothing does I/O at import time.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import asyncpg
from aiohttp import WSCloseCode, web

from dispatch.policy import Policy
from dispatch.sla import next_due_at
from geo.gazetteer import Gazetteer
from hub import keys
from hub.api.errors import error_middleware
from hub.api.instrument import request_metrics
from hub.api.routes import FRONTEND_DIR, ROUTES, add_routes
from hub.data import DEMO_POLICY_FILE
from hub.identity.auth import Authenticator, dummy_hash
from hub.identity.throttle import LoginThrottle
from hub.infra import heap
from hub.infra.clock import Clock
from hub.infra.db import Connection, create_pool, database_name, describe, is_unavailable
from hub.infra.leader import Leadership
from hub.infra.metrics import Metrics
from hub.infra.migrate import apply_migrations, is_transient_migration_error
from hub.infra.redis_url import open_redis
from hub.infra.settings import Settings
from hub.live.bus import WakeupBus
from hub.live.gateway import ConsoleGateway
from hub.live.sessions import SessionWatch
from hub.services.admission import Admission
from hub.services.alerts import Alerts
from hub.services.analysis import Analysis
from hub.services.boundaries import Boundaries
from hub.services.case_actions import CaseActions
from hub.services.directives import Directives
from hub.services.duty import DutyRoster
from hub.services.headline import Headline
from hub.services.incidents import Incidents
from hub.services.intake import IntakeService
from hub.services.iot.devices import DeviceRegistry
from hub.services.iot.mqtt import MqttSubscriber
from hub.services.iot.order import SharedReadings
from hub.services.iot.readings import IotService
from hub.services.kpis import Kpis
from hub.services.learned import LearnedCategories
from hub.services.locator import Locator
from hub.services.outbox import Outbox
from hub.services.photos import LocalPhotoStore
from hub.services.quarantine import Quarantine
from hub.services.surge import SurgeWatch
from hub.services.timers import SlaTimers
from hub.services.understanding import build_understander
from hub.store.alerts import AlertReads, project_alerts
from hub.store.committer import GroupCommitter
from hub.store.directives import DirectiveProjection, DirectiveReads
from hub.store.events import Accepted
from hub.store.incidents import IncidentReads, project_incidents
from hub.store.kpi_projection import KpiProjection, missing_up_to
from hub.store.projection import CaseProjection
from hub.store.reads import CaseReads

log = logging.getLogger(__name__)
Job = Callable[[], Coroutine[Any, Any, None]]  # a background loop, run for the life of the app

# The consoles' libraries, installed from the npm registry by `make install` (frontend/package-lock.json) and
# served by the hub itself: no CDN. Only their dist folders are exposed.
VENDOR = {"leaflet": "node_modules/leaflet/dist", "markercluster": "node_modules/leaflet.markercluster/dist",
          "echarts": "node_modules/echarts/dist"}


async def _postgres(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    app[keys.POOL], app[keys.COMMIT_POOL] = await _open_database(settings)
    app[keys.READ_POOL] = app[keys.POOL]
    if settings.database_replica_url is not None:
        app[keys.READ_POOL] = await _open_replica(settings, settings.database_replica_url)
    yield
    if app[keys.READ_POOL] is not app[keys.POOL]:
        await app[keys.READ_POOL].close()
    await app[keys.COMMIT_POOL].close()
    await app[keys.POOL].close()


async def _open_replica(settings: Settings, url: str) -> asyncpg.Pool:
    """The pool of the read replica (DATABASE_REPLICA_URL). Opened empty (min_size 0): a replica that is down
    or still catching up must not keep the hub from starting — the reads sent to it answer 503 meanwhile, and
    everything else (intake, consoles, actions) only ever uses the primary."""
    pool = await _pool(settings, url, 0, settings.db_pool_size)
    try:
        standby = await pool.fetchval("SELECT pg_is_in_recovery()")
    except Exception as exc:
        log.warning("the read replica does not answer yet (%s); analysis and KPI reads wait for it",
                    describe(exc), extra={"error": describe(exc)})
    else:
        if not standby:  # allowed (a read-only copy made another way), but most likely a wrong URL
            log.warning("DATABASE_REPLICA_URL is not a server in recovery (a standby); its reads are not checked "
                        "for being a copy of DATABASE_URL")
    return pool


async def _open_database(settings: Settings) -> tuple[asyncpg.Pool, asyncpg.Pool]:
    """Migrate and open the pools: the shared one, and the group committer's own — a commit never waits
    behind reads for a connection (under load it used to queue behind the duplicate checks of the very
    tickets it was to commit). While PostgreSQL is not there yet (starting, restarting, unreachable, its
    database not created yet) retry with exponential backoff and say why on each attempt, rather than exit:
    a hub started before its database — a reboot, a container started first — comes up by itself.
    A refusal that waiting does not cure (a wrong password, a failing migration) still stops the hub."""
    url = settings.database_url
    assert url is not None, "the CLI resolves DATABASE_URL before building the app"
    delay = 0.5
    while True:
        try:
            # asyncpg first: its errors say precisely whether waiting can help (psycopg's, from the
            # migrations, lump a wrong password together with a refused connection).
            conn = await asyncpg.connect(url, timeout=settings.db_connect_timeout_s)
            await conn.close()
            if settings.migrate_on_start:  # off in `serve --workers` processes: their supervisor migrated once
                applied = await asyncio.to_thread(apply_migrations, url)
                if applied:
                    log.info("migrations applied", extra={"migrations": applied})
            pool = await _pool(settings, url, 2, settings.db_pool_size)
            try:
                # One transaction at a time (the committer's loop), and one spare while a lost one reconnects.
                return pool, await _pool(settings, url, 1, 2)
            except BaseException:
                await pool.close()
                raise
        except Exception as exc:
            reason = describe(exc)
            if not is_unavailable(exc) and not is_transient_migration_error(exc):
                log.error("cannot start: PostgreSQL refused the hub (%s)", reason, extra={"error": reason})
                raise
            log.warning("PostgreSQL is not reachable at start-up (%s); retrying in %.1f s", reason, delay,
                        extra={"error": reason, "retry_in_s": delay})
        await asyncio.sleep(delay)
        delay = min(delay * 2, settings.db_start_retry_max_s)


async def _pool(settings: Settings, url: str, min_size: int, max_size: int) -> asyncpg.Pool:
    return await create_pool(url, min_size=min_size, max_size=max_size, command_timeout=settings.db_command_timeout_s,
                             acquire_timeout=settings.db_acquire_timeout_s,
                             connect_timeout=settings.db_connect_timeout_s)


async def _redis(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    assert settings.redis_url is not None, "the CLI resolves REDIS_URL before building the app"
    app[keys.REDIS] = open_redis(settings.redis_url, socket_connect_timeout=2, socket_timeout=5,
                                 health_check_interval=10)
    yield
    await app[keys.REDIS].aclose()


async def _core(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    pool = app[keys.POOL]
    metrics = app[keys.METRICS]
    boundaries = Boundaries(pool, settings.near_boundary_m)
    await boundaries.refresh()
    policy = app[keys.POLICY]
    # The understanding step's model trains (or is read from the data directory) while the gazetteer loads.
    gazetteer, understander = await asyncio.gather(asyncio.to_thread(Gazetteer.from_data_dir),
                                                   asyncio.to_thread(build_understander, policy,
                                                                     cache_dir=settings.data_dir))
    app[keys.BOUNDARIES] = boundaries
    app[keys.LOCATOR] = Locator(boundaries, gazetteer)
    sla = policy.sla
    projection = CaseProjection((lambda case: next_due_at(case, sla)) if sla else None)
    app[keys.PROJECTION] = projection
    kpi_projection = KpiProjection()
    directive_projection = DirectiveProjection(policy.directives)
    # What dispatchers' 研判 taught the hub; its `lookup` is for the understanding step of intake.
    learned = app[keys.LEARNED] = LearnedCategories(pool, policy.matrix, policy.intake.generic_categories)
    await learned.refresh()

    async def project(conn: Connection, accepted: Accepted) -> None:
        # The read models are written in the append transaction, from the batch the committer holds.
        await projection(conn, accepted)
        await project_alerts(conn, accepted)
        await directive_projection(conn, accepted)
        await project_incidents(conn, accepted)
        await kpi_projection(conn, accepted)
        await learned.project(conn, accepted)

    reads = app[keys.READS] = CaseReads(pool)  # every query on the cases table outside the projection
    committer = GroupCommitter(app[keys.COMMIT_POOL], project, queue_size=settings.append_queue_size,
                               batch_max=settings.append_batch_max, timeout_s=settings.append_timeout_s,
                               metrics=metrics)
    metrics.track_append_queue(committer.queue_depth, settings.append_queue_size)
    metrics.track_pool("shared", pool)
    metrics.track_pool("commit", app[keys.COMMIT_POOL])
    if app[keys.READ_POOL] is not pool:
        metrics.track_pool("replica", app[keys.READ_POOL])
    admission = app[keys.ADMISSION] = Admission(settings.intake_max_in_flight, settings.intake_timeout_s,
                                                  budget_s=settings.intake_wait_budget_s,
                                                  floor=settings.intake_min_in_flight)
    committer.on_commit(admission.committed)
    committer.on_commit(learned.committed)
    bus = WakeupBus(app[keys.REDIS])
    alert_reads = AlertReads(pool)
    directive_reads = DirectiveReads(pool)
    incident_reads = IncidentReads(pool)
    gateway = ConsoleGateway(
        pool, reads, alert_reads, directive_reads, coalesce_s=settings.console_coalesce_ms / 1000,
        poll_s=settings.store_poll_s,
        heartbeat_s=settings.console_heartbeat_s, snapshot_limit=settings.console_snapshot_limit,
        incidents=incident_reads, metrics=metrics)
    await gateway.start()
    metrics.track_consoles(lambda: gateway.client_count, lambda: gateway.position)
    # Read from kpi_assignments and the case projections: long scans a replica can take (DATABASE_REPLICA_URL).
    app[keys.KPIS] = Kpis(app[keys.READ_POOL])
    app[keys.ANALYSIS] = Analysis(app[keys.READ_POOL])  # the same projections, grouped for 研判分析
    app[keys.HEADLINE] = Headline(reads, settings.headline_cache_s)  # the consoles' figures, shared per scope
    if missing := await missing_up_to(pool):
        log.warning("KPI figures leave out the events recorded before the KPI table existed: run "
                    "`cityloop projections rebuild` once", extra={"missing_up_to": missing})
    committer.on_commit(gateway.wake)  # this process's commits reach its consoles at once
    committer.on_commit(bus.publish)  # and other processes' consoles through Redis
    bus.subscribe(gateway.wake)
    app[keys.COMMITTER] = committer
    app[keys.BUS] = bus
    app[keys.GATEWAY] = gateway
    # Redis keys and channels of this deployment (the hubs sharing this database) carry its name.
    namespace = database_name(settings.database_url or "")
    throttle = LoginThrottle(app[keys.REDIS], pool, namespace, max_per_user=settings.login_max_failures,
                             max_per_address=settings.login_max_failures_per_address,
                             window_s=settings.login_window_s)
    app[keys.AUTH] = Authenticator(pool, settings.session_ttl_s, throttle)
    # The hash an unknown user's sign-in is checked against, made in a thread while the hub starts (argon2 releases
    # the GIL), so that the first such sign-in takes as long as any other.
    warming = asyncio.get_running_loop().run_in_executor(None, dummy_hash)
    sessions = app[keys.SESSIONS] = SessionWatch(pool, app[keys.REDIS], f"cityloop:{namespace}:revoked",
                                                 settings.session_check_s)
    clock = app[keys.CLOCK]
    app[keys.DUTY] = DutyRoster(pool, policy.matrix, app[keys.LOCATOR].area_chain)
    app[keys.ACTIONS] = CaseActions(reads, committer, policy, clock, app[keys.LOCATOR].area_chain)
    # Emergency incidents (平急转换): intake links new cases to the active ones this process knows.
    incidents = app[keys.INCIDENTS] = Incidents(
        incident_reads, reads, app[keys.ACTIONS], committer, pool, clock,
        counties=lambda: [a["code"] for a in app[keys.LOCATOR].children(None, "county")])
    await incidents.refresh()
    app[keys.INTAKE] = IntakeService(app[keys.LOCATOR], committer, policy, clock, reads, app[keys.ACTIONS],
                                     understander=understander, learned=learned.lookup, incidents=incidents.active,
                                     gather_s=settings.intake_gather_ms / 1000)
    app[keys.TIMERS] = SlaTimers(reads, app[keys.ACTIONS], policy, clock, metrics=metrics)
    quarantine = app[keys.QUARANTINE] = Quarantine(pool)
    app[keys.DEVICES] = DeviceRegistry(pool)
    iot = app[keys.IOT] = IotService(reads, app[keys.DEVICES], app[keys.INTAKE], committer, clock, quarantine,
                                     metrics=metrics)
    quarantine.register("mqtt", iot.replay)
    # Photos live beside the data; another PhotoStore (object storage, say) plugs in here.
    app[keys.PHOTO_STORE] = LocalPhotoStore(settings.data_dir / "photos")
    outbox = app[keys.OUTBOX] = Outbox(pool, reads, settings, quarantine, metrics=metrics)
    quarantine.register("callback", outbox.replay)
    committer.on_commit(outbox.wake)
    bus.subscribe(outbox.wake)
    app[keys.ALERTS] = alerts = Alerts(alert_reads, committer)
    surge = app[keys.SURGE] = SurgeWatch(pool, alerts, policy.warning, policy.matrix, clock,
                                         poll_s=settings.store_poll_s,
                                         coalesce_s=settings.warning_coalesce_ms / 1000,
                                         update_interval_s=settings.warning_update_interval_s)
    committer.on_commit(surge.wake)
    bus.subscribe(surge.wake)
    directives = app[keys.DIRECTIVES] = Directives(directive_reads, committer, policy.directives, policy.matrix,
                                                   app[keys.LOCATOR].area_chain, app[keys.LOCATOR].children, clock)

    # Loops every process runs for itself: its commits, its intake stage, its consoles, its in-memory indexes
    # (the boundary watch refreshes this process's own routing index, so it is not led).
    jobs: dict[str, Job] = {
        "committer": committer.run, "intake": app[keys.INTAKE].run, "wakeup-publisher": bus.run_publisher,
        "wakeup-subscriber": bus.run_subscriber, "console-feed": gateway.run,
        "console-heartbeat": gateway.run_heartbeat,
        "boundary-watch": lambda: boundaries.run_watch(settings.boundary_check_s),
        "learned-watch": lambda: learned.run_watch(settings.boundary_check_s),  # other processes' learning
        "session-revocations": sessions.run_listener, "session-check": sessions.run_check,
        "incident-watch": lambda: incidents.run_watch(settings.store_poll_s),  # other processes' declarations
        "heap-release": heap.release_every,  # the C allocator's free pages back to the system (hub.infra.heap)
    }
    # Loops the deployment runs once, in the process that leads (hub.infra.leader); they are safe to overlap
    # for a moment, but N processes doing them all the time would only contend.
    led: dict[str, Job] = {
        "sla-timers": lambda: app[keys.TIMERS].run(settings.sla_sweep_s),
        "outbox-writer": outbox.run_writer, "outbox-deliverer": outbox.run_deliverer,
        "early-warning": surge.run,  # derive once: each new report is evaluated by one process
        "directive-timers": lambda: directives.run(settings.sla_sweep_s),  # reminders and overdue, like SLA
    }
    if settings.mqtt_url is not None:
        def received(handle: Callable[[str, bytes], Awaitable[object]]) -> Callable[[str, bytes], Awaitable[None]]:
            """The subscriber's handler, counting what this process takes from the broker (what becomes of
            each reading, iot.take counts, in whichever process applies it)."""
            async def take(topic: str, payload: bytes) -> None:
                metrics.mqtt_received.inc()
                await handle(topic, payload)
            return take

        group = settings.mqtt_shared_group
        if group is None:
            # One subscriber per deployment: two with the same client id would take the session from each other.
            subscriber = MqttSubscriber(settings.mqtt_url, settings.mqtt_client_id, settings.mqtt_topic,
                                        received(iot.take), settings.mqtt_session_expiry_s)
            led["mqtt-subscriber"] = subscriber.run
        else:
            # Every process shares the subscription; the device order is kept across them (hub.services.iot.order).
            shared = SharedReadings(pool, iot, window_s=settings.mqtt_reorder_window_s,
                                    parallel=max(1, settings.db_pool_size // 2))
            subscriber = MqttSubscriber(settings.mqtt_url, settings.mqtt_client_id, settings.mqtt_topic,
                                        received(shared.take), settings.mqtt_session_expiry_s, shared_group=group)
            jobs["mqtt-subscriber"] = subscriber.run
            led["mqtt-inbox-sweep"] = shared.run_sweep  # readings a hub recorded and then died with
        app[keys.MQTT] = subscriber
    leadership = app[keys.LEADERSHIP] = Leadership(settings.database_url or "", lambda: _run_all(led),
                                                   check_s=settings.leader_check_s)
    metrics.track_leader(lambda: leadership.is_leader)
    jobs["leadership"] = leadership.run
    tasks = [asyncio.create_task(_supervised(name, job), name=name) for name, job in jobs.items()]
    yield
    await warming  # done long before (a hash takes ~0.1 s); awaited so that no thread outlives the hub
    await admission.close()  # intake work that outlived its answer's deadline, while the committer still runs
    await _stop(tasks)


async def _run_all(jobs: dict[str, Job]) -> None:
    """Run these loops, each supervised, until cancelled; then stop them all.

    `wait`, not `gather`: a cancelled gather cancels its loops at once and ends as soon as the first of them
    has, so `_stop` cancelled the others a second time while they were still ending the first — the callback
    writer's ROLLBACK of a round cut short, after which asyncpg logged "Resetting connection with an active
    transaction" at ERROR (a shutdown soon after start, one in four). `_stop` alone cancels them, once."""
    tasks = [asyncio.create_task(_supervised(name, job), name=name) for name, job in jobs.items()]
    try:
        await asyncio.wait(tasks)  # the loops never end: until cancelled
    finally:
        await _stop(tasks)


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    # Bounded: one loop stuck in a library's cleanup must not hold the whole shutdown hostage.
    _, stuck = await asyncio.wait(tasks, timeout=5.0)
    for task in stuck:
        log.error("background task did not stop within 5 s", extra={"task": task.get_name()})


async def _supervised(name: str, job: Job) -> None:
    """Run a background loop for the life of the app; a crash is logged loudly and the loop restarted."""
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background task crashed; restarting it", extra={"task": name})
            await asyncio.sleep(1.0)


async def _close_sockets(app: web.Application) -> None:
    """Consoles are told the hub is going away (1001) so shutdown does not wait for them."""
    sockets = app[keys.SOCKETS]  # named first: inside list(...) mypy infers the key's type from list's
    for ws in list(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"hub shutting down; reconnect with your position")


def load_policy(settings: Settings) -> Policy:
    """The policy of `CITYLOOP_POLICY_FILE`; without one, the Nanning demo policy (hub/data/demo_policy.json),
    with a warning: a hub must not dispatch to the demo's illustrative units without anyone noticing."""
    if settings.policy_file is None:
        log.warning("CITYLOOP_POLICY_FILE is not set: using the Nanning DEMO policy, whose responsibility matrix "
                    "names illustrative units; set CITYLOOP_POLICY_FILE to this city's policy (JSON of "
                    "dispatch.policy.Policy)", extra={"policy_file": str(DEMO_POLICY_FILE)})
    return Policy.model_validate_json((settings.policy_file or DEMO_POLICY_FILE).read_bytes())


def init_app(settings: Settings, *, clock: Clock | None = None, policy: Policy | None = None) -> web.Application:
    """Build the hub. `clock` and `policy` are injectable for tests; by default the system clock and the
    policy of `CITYLOOP_POLICY_FILE` (read when the app starts, not at import)."""
    # Request metrics outermost: they see the status the client gets, error responses included.
    app = web.Application(middlewares=[request_metrics(ROUTES), error_middleware], client_max_size=20 * 1024 * 1024)
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = Metrics()  # this hub's own registry (hub.infra.metrics)
    app[keys.CLOCK] = clock or Clock()
    app[keys.POLICY] = policy or load_policy(settings)
    app[keys.SOCKETS] = weakref.WeakSet()
    app.cleanup_ctx.extend([_postgres, _redis, _core])
    app.on_shutdown.append(_close_sockets)
    add_routes(app)  # hub.api.routes: the one route table
    for name, folder in VENDOR.items():
        if (FRONTEND_DIR / folder).is_dir():
            app.router.add_static(f"/static/vendor/{name}/", FRONTEND_DIR / folder, show_index=False)
        else:
            log.warning("console library missing: run `make install` (npm ci in frontend/)",
                        extra={"library": name})
    for folder in ("shared", "console", "m"):
        app.router.add_static(f"/static/{folder}/", FRONTEND_DIR / folder, show_index=False)
    return app

