"""deploy/prometheus checked by Prometheus's own promtool (Debian's `prometheus` package, installed by
scripts/system-packages.sh): the scrape configuration and the alert rules are valid, and the rules' unit tests
(deploy/prometheus/alerts_test.yml: each alert fires on the series it is for, and not before its `for`) pass."""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import reduce
from pathlib import Path

import pytest
import yaml

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


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """The Grafana dashboard's queries, with its variables given values, as recording rules: promtool parses
    each one as Prometheus would."""
    dashboard = json.loads((PROMETHEUS.parent / "grafana" / "cityloop.json").read_text(encoding="utf-8"))
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert queries
    variables = {"$__rate_interval": "1m", "$instance": ".*"}
    rules = [{"record": f"cityloop:dashboard_query_{n}", "expr": reduce(lambda q, v: q.replace(*v), variables.items(),
                                                                     query)} for n, query in enumerate(queries)]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    done = promtool("check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
