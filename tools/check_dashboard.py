"""Evaluate every panel of deploy/grafana/cityloop.json and every rule of deploy/prometheus/alerts.yml on a live
Prometheus that scrapes CityLoop hubs, and say which return data.

    python -m tools.check_dashboard http://127.0.0.1:9090

Grafana's own variables are replaced as Grafana would on a short range ($__rate_interval → 1m), and the
dashboard's template variables by their "All" value (a regex matching every instance). Prints one line per
expression (series returned, or EMPTY), the rules' series selectors that match nothing (a rule that cannot fire
on a healthy hub must still read series that exist), the scrape targets and the rules' health and state. Exits 1 when a
query fails, a target is down or a rule is unhealthy; an empty expression is reported, not an error — some are
empty legitimately on a quiet hub (no callbacks yet, nothing dropped).
"""

from __future__ import annotations

import json
import re
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "cityloop.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"

# Grafana's built-in interval variables, as they come out for a short dashboard range and a 5-15 s scrape.
BUILT_INS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
# The series a rule reads: a CityLoop, process or `up` name with its label matchers (not a function: no "(").
_SELECTOR = re.compile(r"\b((?:cityloop|process)_\w+|up)\b(\{[^}]*\})?(?!\s*\()")


def template_values(dashboard: dict[str, Any]) -> dict[str, str]:
    """Each template variable by its "All" value; a variable without one matches anything."""
    values = dict(BUILT_INS)
    for variable in dashboard.get("templating", {}).get("list", []):
        values[variable["name"]] = variable.get("allValue") or ".*"
    return values


def substitute(expr: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise ValueError(f"unknown variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(one, expr)


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expression with variables substituted) for every target of every panel, rows included."""
    values = template_values(dashboard)
    queries: list[tuple[str, str]] = []
    panels = list(dashboard.get("panels", []))
    while panels:
        panel = panels.pop(0)
        panels.extend(panel.get("panels", []))  # a collapsed row keeps its panels inside it
        for target in panel.get("targets", []):
            if target.get("expr"):
                queries.append((panel.get("title", "?"), substitute(target["expr"], values)))
    return queries


def rule_queries(alerts: dict[str, Any]) -> list[tuple[str, str]]:
    return [(rule.get("alert") or rule["record"], rule["expr"].strip())
            for group in alerts["groups"] for rule in group["rules"]]


def selectors(expr: str) -> list[str]:
    """The vector selectors of an expression, each once: a rule that never fires on a healthy hub still has to
    read series that exist, or it could never fire at all."""
    return list(dict.fromkeys(name + (matchers or "") for name, matchers in _SELECTOR.findall(expr)))


def _get(base: str, path: str, **params: str) -> Any:
    url = f"{base.rstrip('/')}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise RuntimeError(f"{path}: {body.get('error')}")
    return body["data"]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tools.check_dashboard PROMETHEUS_URL", file=sys.stderr)
        return 2
    base, failed = argv[0], False
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    alerts = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    for kind, queries in (("panel", panel_queries(dashboard)), ("rule", rule_queries(alerts))):
        with_data = 0
        for name, expr in queries:
            try:
                result = _get(base, "/api/v1/query", query=expr)["result"]
            except (RuntimeError, OSError) as error:
                print(f"{kind:5} ERROR   {name}: {error}\n      {expr}")
                failed = True
                continue
            with_data += bool(result)
            print(f"{kind:5} {len(result):3} ser {name}: {' '.join(expr.split())}" if result
                  else f"{kind:5} EMPTY   {name}: {' '.join(expr.split())}")
        print(f"-- {kind}s: {with_data} of {len(queries)} expressions return data")
    missing = [sel for _, expr in rule_queries(alerts) for sel in selectors(expr)
               if not _get(base, "/api/v1/query", query=f"count({sel})")["result"]]
    # Reported, not an error: `status=~"5.."` has no series until a 5xx happens.
    print(f"-- rule selectors without a series: {', '.join(dict.fromkeys(missing)) or 'none'}")
    for target in _get(base, "/api/v1/targets")["activeTargets"]:
        print(f"target {target['scrapeUrl']}: {target['health']} {target.get('lastError') or ''}")
        failed |= target["health"] != "up"
    for group in _get(base, "/api/v1/rules")["groups"]:
        for rule in group["rules"]:
            print(f"rule {rule['name']}: {rule['health']}, {rule.get('state', '-')} {rule.get('lastError') or ''}")
            failed |= rule["health"] != "ok"
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
