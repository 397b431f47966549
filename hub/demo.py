"""Demo users and the hotline key for the simulator; printed logins. Demo only: never in production."""

from __future__ import annotations

import secrets

import asyncpg

from hub.auth import add_api_key, add_user

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


async def seed_demo(pool: asyncpg.Pool) -> str:
    """Create (or reset) the demo users; return a fresh hotline key for the simulator."""
    for username, role, area in DEMO_USERS:
        await add_user(pool, username, DEMO_PASSWORD, role, area)
    return await add_api_key(pool, f"demo-simulator-{secrets.token_hex(4)}", "hotline")


def print_banner(base_url: str) -> None:
    lines = [
        "",
        f"  Command-centre console: {base_url}/console/",
        f"  Township mobile console: {base_url}/m/",
        f"  API description:         {base_url}/openapi.json",
        "  Demo logins (password for all: " + DEMO_PASSWORD + "):",
    ]
    lines += [f"    {u:<10} {r:<18} {a or 'whole city'}" for u, r, a in DEMO_USERS]
    print("\n".join(lines) + "\n", flush=True)
