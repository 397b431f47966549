"""Which policy a hub runs with: `CITYLOOP_POLICY_FILE`, or the Nanning demo policy with a warning in the log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dispatch.policy import Policy
from hub.app import load_policy
from hub.infra.settings import Settings
from tools.demo_matrix import DEMO_POLICY_FILE, demo_policy


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_without_a_policy_file_the_demo_policy_is_used_and_the_log_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        policy = load_policy(Settings(policy_file=None))
    assert policy == demo_policy()
    (warning,) = warnings_of(caplog)
    assert "CITYLOOP_POLICY_FILE is not set" in warning and "DEMO" in warning


@pytest.mark.parametrize("demo", [True, False])
def test_a_policy_file_is_used_without_a_warning(demo: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The demo's own policy file (what `cityloop demo` sets) and a city's file are both taken silently."""
    path = DEMO_POLICY_FILE if demo else tmp_path / "policy.json"
    if not demo:
        path.write_text(Policy(max_returns=3, sla=None).model_dump_json(), encoding="utf-8")
    with caplog.at_level(logging.INFO):
        policy = load_policy(Settings(policy_file=path))
    assert policy == (demo_policy() if demo else Policy(max_returns=3, sla=None))
    assert warnings_of(caplog) == []
