"""GET /metrics of a running hub: valid Prometheus text and OpenMetrics, every family explained (# HELP), the
counters and histograms an operator alerts on move with the work, and the dashboard and alert rules in deploy/
name only metrics the hub exports."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from hub.infra.embedded import ServiceUrls
from tests.conftest import Hub, fresh_database, hub_settings, running_hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, console, push, ticket
from tests.unit.test_alert_rules import promtool

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@pytest.fixture(scope="module")
async def metrics_hub(service_urls: ServiceUrls, template_database: str, work_dir: Path) -> AsyncIterator[Hub]:
    async with fresh_database(service_urls, template_database) as database_url, \
            running_hub(hub_settings(database_url, service_urls, work_dir)) as running:
        yield running


async def scrape(hub: Hub, accept: str | None = None) -> tuple[str, str]:
    """The body and Content-Type of /metrics."""
    headers = {"Accept": accept} if accept else {}
    async with hub.http.get(f"{hub.base}/metrics", headers=headers) as resp:
        assert resp.status == 200
        return await resp.text(), resp.headers["Content-Type"]


async def families(hub: Hub) -> dict[str, Metric]:
    text, _ = await scrape(hub)
    return {family.name: family for family in parse_text(text)}


def value(family: Metric, sample_name: str, **labels: str) -> float:
    """The value of the sample of `family` with this name and these labels (0 when there is none yet)."""
    return sum(s.value for s in family.samples if s.name == sample_name and s.labels == labels)


async def test_metrics_are_prometheus_text_and_openmetrics_with_help_on_every_family(metrics_hub: Hub) -> None:
    text, content_type = await scrape(metrics_hub)
    assert content_type.startswith("text/plain; version=0.0.4")
    parsed = list(parse_text(text))
    assert {f.name for f in parsed} >= {"cityloop_http_request_duration_seconds", "cityloop_ingest",
                                        "cityloop_commit_duration_seconds", "cityloop_append_queue_depth"}
    helps = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP ")}
    types = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    assert types <= helps, f"families without # HELP: {sorted(types - helps)}"
    assert all(f.documentation for f in parsed)

    open_text, open_type = await scrape(metrics_hub, OPENMETRICS)
    assert open_type.startswith("application/openmetrics-text")
    assert open_text.endswith("# EOF\n")
    openmetrics = parse_openmetrics(open_text)  # type: ignore[no-untyped-call]  # (the parser is untyped)
    assert {f.name for f in openmetrics} >= {"cityloop_ingest", "cityloop_consoles_dropped"}


async def test_a_ticket_moves_the_ingest_commit_and_fanout_metrics_and_its_route_histogram(metrics_hub: Hub) -> None:
    hub = metrics_hub
    ws, _ = await console(hub, await hub.login("county_dispatcher", "450103"), ["450103"])
    before = await families(hub)
    status, _ = await push(hub, await hub.hotline_key(), ticket(QINGXIU_SEAT))
    assert status == 202
    while (await ws.receive_json(timeout=10))["type"] != "batch":  # the snapshot, pings: then the ticket's frame
        pass
    await ws.close()
    missing = uuid.uuid4()
    async with hub.http.get(f"{hub.base}/api/v1/cases/{missing}") as resp:
        assert resp.status == 401
    async with hub.http.get(f"{hub.base}/no/such/{missing}") as resp:
        assert resp.status == 404
    after = await families(hub)

    def moved(name: str, sample: str, **labels: str) -> float:
        return value(after[name], sample, **labels) - value(before[name], sample, **labels)

    assert moved("cityloop_ingest", "cityloop_ingest_total", channel="hotline", outcome="accepted") == 1
    assert moved("cityloop_ingest", "cityloop_ingest_total", channel="hotline", outcome="duplicate") == 0
    requests = "cityloop_http_request_duration_seconds"
    assert moved(requests, f"{requests}_count", route="push_hotline_ticket", status="202") == 1
    assert moved(requests, f"{requests}_bucket", route="push_hotline_ticket", status="202", le="+Inf") == 1
    assert moved(requests, f"{requests}_count", route="get_case", status="401") == 1
    assert moved(requests, f"{requests}_count", route="unmatched", status="404") == 1
    routes = {s.labels["route"] for s in after[requests].samples}
    assert not any(str(missing) in route for route in routes), "raw paths never become labels"
    assert moved("cityloop_commit_batch_size", "cityloop_commit_batch_size_count") >= 1
    assert moved("cityloop_commit_duration_seconds", "cityloop_commit_duration_seconds_count") >= 1
    assert moved("cityloop_fanout_latency_seconds", "cityloop_fanout_latency_seconds_count") >= 1
    assert value(after["cityloop_db_pool_size"], "cityloop_db_pool_size", pool="shared") >= 1
    assert value(after["cityloop_append_queue_capacity"], "cityloop_append_queue_capacity") > 0


async def test_promtool_finds_nothing_to_lint_in_the_metrics(metrics_hub: Hub) -> None:
    """Prometheus's own linter: counters end in _total, units in base units and in the name, HELP present."""
    text, _ = await scrape(metrics_hub)
    done = promtool("check", "metrics", stdin=text)
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), done.stdout + done.stderr


# Names a PromQL expression uses: ours, as the hub exports them (a histogram's series are its family's).
_NAME = re.compile(r"\bcityloop_\w+")
_SERIES_SUFFIX = re.compile(r"_(bucket|sum|count|total|created)$")


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "cityloop.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_expressions() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


async def test_the_dashboard_and_alert_rules_use_only_metrics_the_hub_exports(metrics_hub: Hub) -> None:
    exported = set(await families(metrics_hub))
    for source, expressions in (("dashboard", dashboard_expressions()), ("alert rules", alert_expressions())):
        assert expressions, f"the {source} has no expressions"
        used = {_SERIES_SUFFIX.sub("", name) for expr in expressions for name in _NAME.findall(expr)}
        assert used, f"the {source} uses no cityloop metric"
        assert used <= exported, f"the {source} names metrics /metrics does not export: {sorted(used - exported)}"


# A selector of ours with its matchers, one matcher, and an aggregation's label list.
_SELECTOR = re.compile(r"\b(cityloop_\w+)\{([^}]*)\}")
_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
# Labels Prometheus adds at the scrape (instance, job) or a histogram's bucket label.
_TARGET_LABELS = {"instance", "job", "le"}


async def test_the_dashboard_and_alert_rules_use_only_labels_and_values_the_hub_sets(metrics_hub: Hub) -> None:
    """A label the hub never sets, or a value it never gives (`outcome="accept"`), makes a panel or rule silently
    empty; the names-only check above cannot see that. Equality matchers name a value some sample has."""
    status, _ = await push(metrics_hub, await metrics_hub.hotline_key(), ticket(QINGXIU_SEAT))  # a request's labels
    assert status == 202
    exported = await families(metrics_hub)
    for expr in dashboard_expressions() + alert_expressions():
        names = {_SERIES_SUFFIX.sub("", name) for name in _NAME.findall(expr)}
        labels = {label for name in names for sample in exported[name].samples for label in sample.labels}
        for name, matchers in _SELECTOR.findall(expr):
            family = exported[_SERIES_SUFFIX.sub("", name)]
            for label, op, wanted in _MATCHER.findall(matchers):
                if label in _TARGET_LABELS:
                    continue
                given = {sample.labels.get(label) for sample in family.samples} - {None}
                assert given, f"{name} has no label {label!r}: {expr}"
                assert op != "=" or wanted in given, f"{name} never has {label}={wanted!r} (has {given}): {expr}"
        for grouping in _GROUPING.findall(expr):
            for label in filter(None, (part.strip() for part in grouping.split(","))):
                assert label in labels | _TARGET_LABELS, f"no metric of {expr!r} has the label {label!r}"
