"""deploy/monitoring.compose.yml over docker-compose.yml, as `docker compose -f … -f …` merges them: a valid
Compose file (the same strict checker as tests/unit/test_compose_file.py), Prometheus scraping the hub's metrics
port with the shipped rules, Grafana provisioned with the shipped dashboard, and nothing new published beyond
Grafana on loopback."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.unit.test_compose_file import ROOT, TEST_ENV, Unset, compose_check, interpolate, raw

OVERRIDE = ROOT / "deploy" / "monitoring.compose.yml"
ENV = {**TEST_ENV, "GRAFANA_ADMIN_PASSWORD": "grafana-test-password"}


def merge(base: Any, override: Any) -> Any:
    """Compose's merge of an override file, as far as these files need it: mappings merged key by key,
    sequences (ports, volumes, networks) appended."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(override, list):
        return base + [item for item in override if item not in base]
    return copy.deepcopy(override)


def stack(env: dict[str, str] = ENV) -> dict[str, Any]:
    merged = interpolate(merge(raw(), yaml.safe_load(OVERRIDE.read_text(encoding="utf-8"))), env)
    assert isinstance(merged, dict)
    return merged


def test_the_monitoring_stack_is_a_valid_compose_file() -> None:
    compose_check(stack())
    with pytest.raises(Unset, match="GRAFANA_ADMIN_PASSWORD"):
        stack(TEST_ENV)  # Grafana never starts with its default admin password


def test_prometheus_scrapes_the_hubs_metrics_port_with_the_shipped_rules() -> None:
    services = stack()["services"]
    port = services["hub"]["environment"]["CITYLOOP_METRICS_PORT"]
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    [job] = config["scrape_configs"]
    assert job["job_name"] == "cityloop"  # the job the alert rules name
    assert f"hub:{port}" in job["static_configs"][0]["targets"]
    for rules in config["rule_files"]:
        assert (ROOT / "deploy" / "prometheus" / rules).is_file(), rules
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    assert services["prometheus"]["networks"] == ["backend"]


def test_grafana_is_provisioned_and_only_it_is_published_on_loopback() -> None:
    services = stack()["services"]
    published = {name: service["ports"] for name, service in services.items() if service.get("ports")}
    assert published.pop("grafana") == ["127.0.0.1:3000:3000"]
    assert set(published) == {"hub"}
    assert not services["hub"].get("ports", [])[1:], "the hub's metrics port is not published"
    mounts = {mount.split(":")[1]: mount.split(":")[0] for mount in services["grafana"]["volumes"]}
    assert mounts["/etc/grafana/dashboards/cityloop.json"] == "./deploy/grafana/cityloop.json"
    provisioning = ROOT / "deploy" / "grafana" / "provisioning"
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    [source] = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert source["url"] == "http://prometheus:9090" and source["isDefault"]
    [provider] = yaml.safe_load((provisioning / "dashboards" / "cityloop.yml").read_text())["providers"]
    assert provider["options"]["path"] == "/etc/grafana/dashboards"
    for name in ("prometheus", "grafana"):
        assert services[name]["restart"] == "unless-stopped" and services[name]["healthcheck"]["test"], name
        assert services[name]["image"].rpartition(":")[2].lstrip("v")[0].isdigit(), f"{name} is not pinned"
