"""deploy/prometheus checked by Prometheus's own promtool (Debian's `prometheus` package, installed by
scripts/system-packages.sh): the scrape configuration and the alert rules are valid, and the rules' unit tests
(deploy/prometheus/alerts_test.yml: each alert fires on the series it is for, and not before its `for`) pass."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tools.check_dashboard import DASHBOARD, panel_queries

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


def dashboard_rules(tmp_path: Path) -> tuple[Path, list[tuple[str, str]]]:
    """The Grafana dashboard's queries, with its variables given the values the live check gives them
    (tools/check_dashboard.py), as recording rules `cityloop:dashboard_query_<n>`."""
    queries = panel_queries(json.loads(DASHBOARD.read_text(encoding="utf-8")))
    assert queries
    rules = [{"record": f"cityloop:dashboard_query_{n}", "expr": expr} for n, (_, expr) in enumerate(queries)]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "interval": "15s", "rules": rules}]}),
                    encoding="utf-8")
    return path, queries


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each dashboard query as Prometheus would."""
    path, _ = dashboard_rules(tmp_path)
    done = promtool("check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_5xx_share_reads_zero_not_nothing_on_a_hub_without_errors(tmp_path: Path) -> None:
    """Found on a live hub under `cityloop simulate`: with no 5xx series yet, "5xx / all" was empty, so the panel
    said "No data" on a healthy hub — the same as on a broken scrape."""
    path, queries = dashboard_rules(tmp_path)
    (share,) = [n for n, (_, expr) in enumerate(queries) if 'status=~"5.."' in expr and " / " in expr]
    tests = {"rule_files": [str(path)], "evaluation_interval": "15s", "tests": [{
        "interval": "15s",
        "input_series": [{"series": 'cityloop_http_request_duration_seconds_count{instance="hub:9100",'
                                    'job="cityloop",route="push_hotline_ticket",status="201"}',
                          "values": "0+30x20"}],
        "promql_expr_test": [{"expr": f"cityloop:dashboard_query_{share}", "eval_time": "4m",
                              "exp_samples": [{"labels": f"cityloop:dashboard_query_{share}", "value": 0}]}]}]}
    test_file = tmp_path / "dashboard_test.yml"
    test_file.write_text(yaml.safe_dump(tests), encoding="utf-8")
    done = promtool("test", "rules", str(test_file))
    assert done.returncode == 0, done.stdout + done.stderr
