"""Demo users, the simulator's credentials, and the printed logins. Demo and simulator only: never in production."""

from __future__ import annotations

import asyncio
import secrets

import asyncpg

from hub.auth import add_api_key, add_user, hash_password, save_user

DEMO_PASSWORD = "cityloop-demo"
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
# The simulator's staff are named by role and area, so that a rerun finds the same users again.
SIM_USER_PREFIX = {"city_operator": "sim-operator", "county_dispatcher": "sim-county",
                   "township_handler": "sim-township", "grid_worker": "sim-grid"}


class SimulatorAccounts:
    """The simulator's machine keys and staff logins (tools.simulation.Accounts), created in the hub's database on
    first use: a key per machine channel, the operator, and county dispatchers, township handlers and grid
    workers for whichever county or township the traffic reaches.

    Each user's password is set when the simulator first needs it: a fresh random one per run, or the demo
    password in the demo so that a visitor can sign in as any simulated staff member. argon2 is slow on purpose
    (~0.2 s of CPU), and a run meets a hundred townships: the first user is made by hub.auth.add_user, the
    others get a copy of its hash (same password), so the run pays for one hash, not a hundred."""

    def __init__(self, pool: asyncpg.Pool, password: str | None = None) -> None:
        self._pool = pool
        self._password = password or secrets.token_urlsafe(18)
        self._keys: dict[str, str] = {}
        self._users: dict[tuple[str, str], str] = {}
        self._hash: str | None = None  # the argon2 hash of the shared password, made once
        self._hash_lock = asyncio.Lock()

    async def api_key(self, role: str) -> str:
        if role not in self._keys:
            self._keys[role] = await add_api_key(self._pool, f"simulator-{role}-{secrets.token_hex(4)}", role)
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
            await save_user(self._pool, username, self._hash, role, area)
            self._users[(role, area)] = username
        return self._users[(role, area)], self._password


async def seed_demo(pool: asyncpg.Pool) -> SimulatorAccounts:
    """Create (or reset) the demo users; return the simulator's accounts (keys and the operator made now)."""
    for username, role, area in DEMO_USERS:
        await add_user(pool, username, DEMO_PASSWORD, role, area)
    accounts = SimulatorAccounts(pool, DEMO_PASSWORD)
    for role in ("hotline", "open311", "iot"):
        await accounts.api_key(role)
    await accounts.user("city_operator", "450100")
    return accounts


def print_banner(base_url: str, *, simulating: bool = False) -> None:
    lines = [
        "",
        f"  Command-centre console: {base_url}/console/",
        f"  Township mobile console: {base_url}/m/",
        f"  API description:         {base_url}/openapi.json",
        "  Demo logins (password for all: " + DEMO_PASSWORD + "):",
    ]
    lines += [f"    {u:<10} {r:<18} {a or 'whole city'}" for u, r, a in DEMO_USERS]
    if simulating:
        lines += ["  Live simulator: hotline, Open311, IoT and grid traffic at ~2 events/s; its staff sign in with",
                  "    the same password: sim-operator, sim-county-<county code>, sim-township-<township code>,",
                  "    sim-grid-<township code> (e.g. sim-county-450103, sim-township-450103001)."]
    print("\n".join(lines) + "\n", flush=True)
