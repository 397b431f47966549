"""Hubs as real `cityloop serve` processes, for tests that need to kill one or run several."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys

import aiohttp
import asyncpg

from hub.identity.auth import add_api_key, add_user


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            assert proc.poll() is None, "the hub process exited during start-up"
            try:
                async with http.get(f"{base}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{base} never became ready")


class HubProcess:
    """One `cityloop serve` child with the given environment (DATABASE_URL, REDIS_URL, CITYLOOP_...)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, **env, "CITYLOOP_PORT": str(self.port)}
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> HubProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve"], env=self._env)
        await wait_ready(self.base, self.proc)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the machine loses power."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)


DISPATCHER_PASSWORD = "correct horse battery"


async def hotline_key_and_dispatcher(database_url: str, key_name: str) -> str:
    """A hotline key (returned) and the Qingxiu county dispatcher `qx`, for tests of hubs run as processes."""
    conn = await asyncpg.connect(database_url)
    try:
        key = await add_api_key(conn, key_name, "hotline")
        await add_user(conn, "qx", DISPATCHER_PASSWORD, "county_dispatcher", "450103")
    finally:
        await conn.close()
    return key


async def dispatcher_token(http: aiohttp.ClientSession, base: str) -> str:
    """`qx`'s sign-in token from the hub at `base`."""
    async with http.post(f"{base}/api/v1/auth/login", json={"username": "qx", "password": DISPATCHER_PASSWORD}) as resp:
        return str((await resp.json())["token"])
