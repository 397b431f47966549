"""Mosquitto with the committed configuration (deploy/mosquitto/mosquitto.conf) on a free loopback port, for
the tests of the broker's accounts: only the paths and the listener differ from the container's."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from hub.infra.embedded import mosquitto_binary, mqtt_answers
from tests.processes import free_port

CONF = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto" / "mosquitto.conf"
START_SCRIPT = CONF.with_name("start.sh")


def auth_folder() -> Path:
    """Where the broker's passwd and acl go: readable by the broker's group, as README tells operators
    (`chgrp mosquitto DIR; chmod 2750 DIR`). Outside /root and the tests' 0700 temporary folders: run as root,
    mosquitto drops to its own user."""
    folder = Path(tempfile.mkdtemp(prefix="cityloop-broker-", dir="/var/tmp"))
    if os.geteuid() == 0:
        shutil.chown(folder, "mosquitto", "mosquitto")
    folder.chmod(0o2750)
    return folder


@contextlib.contextmanager
def committed_mosquitto(auth: Path, script_env: dict[str, str] | None = None
                        ) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """The broker reading `auth`/passwd and `auth`/acl; yields its port and process. Started directly (the files
    must exist), or with `script_env` by docker-compose.yml's start script (deploy/mosquitto/start.sh), which
    installs them into `auth` first from its MQTT_ACCOUNTS_DIR."""
    binary = mosquitto_binary()
    assert binary is not None, "the tests need Mosquitto: `make install` installs it"
    folder = auth_folder()
    port = free_port()
    text = CONF.read_text(encoding="utf-8")
    for container_path, here in (("/mosquitto/data/", f"{folder}/data/"),
                                 ("/mosquitto/auth/passwd", f"{auth}/passwd"),
                                 ("/mosquitto/auth/acl", f"{auth}/acl"),
                                 ("listener 1883", f"listener {port} 127.0.0.1"),
                                 ("log_dest stdout", f"log_dest file {folder}/mosquitto.log")):
        assert container_path in text
        text = text.replace(container_path, here)
    (folder / "data").mkdir()
    (folder / "mosquitto.conf").write_text(text, encoding="utf-8")
    if os.geteuid() == 0:
        for path in (folder / "data", folder / "mosquitto.conf"):
            shutil.chown(path, "mosquitto", "mosquitto")
    command, env = [binary, "-c", str(folder / "mosquitto.conf")], None
    if script_env is not None:
        command = ["sh", str(START_SCRIPT)]
        env = {**os.environ, **script_env, "MQTT_AUTH_DIR": str(auth), "MQTT_DATA_DIR": str(folder / "data"),
               "MQTT_CONF": str(folder / "mosquitto.conf"),
               "PATH": f"{os.path.dirname(binary)}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not mqtt_answers(f"mqtt://127.0.0.1:{port}", timeout=0.2):
            assert proc.poll() is None and time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.05)
        yield port, proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the start script's reload loop too
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def publish(port: int, topic: str, *login: str) -> str:
    """Mosquitto's own client publishes one QoS 1 message over MQTT 5: '' when the broker accepted it, else
    what it answered ('not authorised' at CONNECT; 'Publish 1 failed: Not authorized.' — PUBACK reason code
    0x87 — for a topic the account may not write)."""
    pub = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
    done = subprocess.run([pub, "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5", *login, "-t", topic,
                           "-m", '{"probe": true}', "-q", "1"], capture_output=True, text=True, timeout=30)
    answer = done.stderr.strip()
    assert done.returncode == 0 or "not authori" in answer.lower(), answer  # refused, not broken
    return answer
