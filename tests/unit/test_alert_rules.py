"""deploy/prometheus checked by Prometheus's own promtool (Debian's `prometheus` package, installed by
scripts/system-packages.sh): the scrape configuration and the alert rules are valid, and the rules' unit tests
(deploy/prometheus/alerts_test.yml: each alert fires on the series it is for, and not before its `for`) pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool is not None, "promtool is missing: run scripts/system-packages.sh (Debian's prometheus package)"
    return subprocess.run([tool, *args], cwd=PROMETHEUS, input=stdin, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("check", [("check", "config", "prometheus.yml"), ("check", "rules", "alerts.yml"),
                                   ("test", "rules", "alerts_test.yml")], ids=" ".join)
def test_promtool_accepts_the_shipped_configuration_and_rules(check: tuple[str, ...]) -> None:
    done = promtool(*check)
    assert done.returncode == 0, done.stdout + done.stderr
