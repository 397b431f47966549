"""The bench's pure helpers: percentiles, wrk's result line, console receipts, the table, unique tickets, the
synthetic store's order (tools/bench). No timing is asserted anywhere: only arithmetic and shapes."""

from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from uuid import UUID

import numpy as np
import orjson
import pytest

from tools.bench import procs
from tools.bench.consoles import frame_type, new_tickets, ticket_pattern
from tools.bench.fill import BLOCK, SampleCase, rows
from tools.bench.load import TicketStream
from tools.bench.procs import Spent
from tools.bench.report import Row, render_table
from tools.bench.scenarios_http import _cpu_lines
from tools.bench.stats import WRK_MARKER, Answers, console_latencies, latency_ms, parse_wrk
from tools.bench.suite import SCENARIOS, chosen
from tools.bench.wrk import _lua_string, write_script


def test_latency_percentiles_are_in_milliseconds_from_seconds() -> None:
    lat = latency_ms([i / 1000 for i in range(1, 101)])  # 1 … 100 ms
    assert lat.n == 100
    assert lat.p50 == pytest.approx(50.5)
    assert lat.p99 == pytest.approx(99.01)
    assert lat.max == pytest.approx(100.0)
    assert latency_ms([]).n == 0 and latency_ms([]).text() == "no samples"


WRK_OUTPUT = f"""Running 5s test @ http://127.0.0.1:8080
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
{WRK_MARKER}{{"duration_us":5000000,"requests":1200,"accepted":1100,"no_retry_after":3,"statuses":{{"202":1100,"503":100}},"errors":{{"connect":0,"read":2,"write":0,"timeout":5}},"latency_us":{{"p50":12500,"p99":98000,"max":150000}}}}
Requests/sec:    240.00
"""


def test_wrk_result_line_is_read_among_wrks_own_output() -> None:
    result = parse_wrk(WRK_OUTPUT)
    assert result.duration_s == 5.0
    assert result.statuses == {202: 1100, 503: 100}
    assert result.ok == 1100
    assert result.tickets_per_s == 220.0
    assert result.failed == 100 + 2 + 5  # the 503s and the socket errors
    assert result.no_retry_after == 3
    assert (result.latency.p50, result.latency.p99, result.latency.max) == (12.5, 98.0, 150.0)


def test_wrk_output_without_a_result_line_says_what_wrk_printed() -> None:
    with pytest.raises(ValueError, match="unable to connect"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_console_delays_join_receipts_with_send_times_and_skip_unknown_tickets() -> None:
    sent = np.array([10.0, np.nan, 20.0])
    tickets = np.array([0, 2, 1, 7, 0])  # 1 was never sent, 7 is out of range
    received = np.array([10.05, 20.2, 30.0, 40.0, 10.1])
    delays = console_latencies(tickets, received, sent)
    assert np.allclose(np.sort(delays), [0.05, 0.1, 0.2])


def test_answers_tell_late_and_unanswered_requests_and_latency_by_status() -> None:
    answers = Answers()
    for latency, status in ((0.1, 202), (0.3, 202), (2.5, 202), (0.01, 503), (10.0, 0)):
        answers.add(latency, status)
    assert answers.count(range(200, 300)) == 3
    assert answers.slower_than(2.0) == 2  # the 2.5 s answer and the unanswered one
    assert answers.latency_of([503]).max == pytest.approx(10.0)


def test_the_table_is_markdown_with_a_verdict_per_row_and_says_when_it_is_scaled_down() -> None:
    table = render_table([Row("a | b", "1 tickets/s", "≥ 2", False, "0.5x base"), Row("c", "3", "≥ 2", True),
                          Row("d", "4 vs 2", "measure", None)], scaled=True)
    lines = table.splitlines()
    assert lines[0].startswith("| scenario | measured | target | verdict |")
    assert lines[2] == "| a \\| b | 1 tickets/s | ≥ 2 | not met | 0.5x base |"
    assert lines[3] == "| c | 3 | ≥ 2 | met | – |"
    assert lines[4] == "| d | 4 vs 2 | measure | – | – |"
    assert "SCALED DOWN" in table
    assert "SCALED DOWN" not in render_table([Row("c", "3", "≥ 2", True)], scaled=False)


def test_scenarios_are_chosen_by_name_in_run_order() -> None:
    assert chosen(None) == list(SCENARIOS)
    assert chosen("startup, rebuild") == ["rebuild", "startup"]
    with pytest.raises(ValueError, match="unknown scenario"):
        chosen("ingest,speed")


TEMPLATES = [('{"ticket_no":"', '","content":"路灯不亮"}'), ('{"ticket_no":"', '","content":"井盖缺失"}')]


def test_every_ticket_of_a_stream_has_its_own_number_and_batches_are_json() -> None:
    stream = TicketStream(TEMPLATES, prefix="Pbench-")
    numbers = [orjson.loads(stream.ticket(i))["ticket_no"] for i in range(5)]
    assert numbers == [f"Pbench-{i}" for i in range(5)]
    batch = orjson.loads(stream.batch(10, 3))
    assert [t["ticket_no"] for t in batch["tickets"]] == ["Pbench-10", "Pbench-11", "Pbench-12"]
    assert [t["content"] for t in batch["tickets"]] == ["路灯不亮", "井盖缺失", "路灯不亮"]


def test_the_wrk_script_quotes_ticket_templates_whatever_they_hold(tmp_path: Path) -> None:
    assert _lua_string("plain") == "[[plain]]"
    assert _lua_string("a]]b") == "[=[a]]b]=]"
    script = write_script(tmp_path, [('{"x":"]]', '"}')], "clk_key", per_request=100)
    text = script.read_text(encoding="utf-8")
    assert "[=[{\"x\":\"]]]=]" in text and "/api/v1/hotline/tickets:batch" in text and "clk_key" in text


SAMPLE_REPORTED_AT = "2026-12-06T09:30:00+00:00"


def _sample(no: str, appends: int) -> SampleCase:
    intake = [("case.received", f'{{"report":{{"ticket_no":"{no}","reported_at":"{SAMPLE_REPORTED_AT}"}}}}',
               f'{{"idempotency_key":"hotline:{no}"}}'),
              ("case.dispatched", "{}", f'{{"idempotency_key":"hotline:{no}"}}')]
    later = [[("case.accepted", "{}", "{}")], [("case.resolved", "{}", "{}")],
             [("case.callback_recorded", "{}", "{}"), ("case.closed", "{}", "{}")]]
    return SampleCase(no, [intake, *later[:appends - 1]], SAMPLE_REPORTED_AT)


def test_the_synthetic_store_has_gap_free_versions_unique_tickets_and_interleaved_cases() -> None:
    samples = [_sample("T-1", 4), _sample("T-2", 4), _sample("T-3", 1)]  # the third stayed in triage
    events = list(rows(samples, 12_000))
    assert 12_000 <= len(events) < 12_010
    versions: dict[UUID, list[int]] = defaultdict(list)
    positions: dict[UUID, list[int]] = defaultdict(list)
    tickets: Counter[str] = Counter()
    for position, (stream, version, kind, data, meta, at) in enumerate(events):
        versions[stream].append(version)
        positions[stream].append(position)
        if kind == "case.received":
            tickets[orjson.loads(data)["report"]["ticket_no"]] += 1
            # Each copy's report was made on its own day (early warning counts reports by this time), not all at
            # the sample's moment.
            assert datetime.fromisoformat(orjson.loads(data)["report"]["reported_at"]) == at
            assert orjson.loads(meta)["idempotency_key"] == "hotline:" + orjson.loads(data)["report"]["ticket_no"]
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())
    assert set(tickets.values()) == {1} and len(tickets) == len(versions)
    # A closed case's callback comes blocks of cases after its intake, as in a live store.
    spread = max(p[-1] - p[0] for p in positions.values())
    assert spread > BLOCK
    kinds = Counter(kind for _, _, kind, _, _, _ in events)
    assert kinds["case.closed"] == kinds["case.callback_recorded"] > 0
    assert math.isclose(kinds["case.received"], len(versions))


def test_a_console_notes_each_ticket_once_from_the_whole_case_or_the_received_event_never_from_snapshots() -> None:
    pattern = ticket_pattern("Pb-")
    seen = bytearray(10)
    received = orjson.dumps({"type": "event", "position": 7, "case_id": "c1",
                             "event": {"type": "case.received", "data": {"report": {"ticket_no": "Pb-4"}}},
                             "case": {"case_id": "c1", "version": 1, "report": {"ticket_no": "Pb-4"}}}).decode()
    batch = orjson.dumps({"type": "batch", "events": [
        {"position": 8, "case_id": "c1", "event": {"type": "case.dispatched", "data": {}},
         "case": {"case_id": "c1", "version": 2, "patch": True, "state": "dispatched"}},
        {"position": 9, "case_id": "c2", "event": {"type": "case.received", "data": {"report": {"ticket_no": "Pb-5"}}},
         "case": {"case_id": "c2", "version": 1, "report": {"ticket_no": "Pb-5"}}},
        {"position": 10, "case_id": "c3", "event": {"type": "case.received", "data": {"report": {"ticket_no": "Pb-1"}}},
         "case": {"case_id": "c3", "version": 1, "report": {"ticket_no": "Pb-1"}}}]}).decode()
    snapshot = orjson.dumps({"type": "snapshot", "position": 6, "cases": [{"report": {"ticket_no": "Pb-3"}}]}).decode()
    assert [frame_type(f) for f in (received, batch, snapshot, '{"type":"ping","position":3}')] == [
        "event", "batch", "snapshot", None]
    assert new_tickets(received, pattern, 2, seen) == [4]
    assert new_tickets(received, pattern, 2, seen) == []  # whole-case frames repeat the ticket: noted once
    assert new_tickets(batch, pattern, 2, seen) == [5]  # 1 is below `first`
    assert new_tickets('{"type": "event", "case": {"ticket_no": "Pb-6"}}', pattern, 2, seen) == [6]
    assert new_tickets('{"ticket_no":"Other-7"}', pattern, 2, seen) == []


def test_workers_are_passed_to_serve_when_it_has_the_flag_and_one_worker_needs_none(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(procs, "serve_has_workers", lambda: True)
    assert procs.serve_command(2)[-4:] == ["hub.cli", "serve", "--workers", "2"]
    assert procs.serve_command(1)[-2:] == ["--workers", "1"]
    monkeypatch.setattr(procs, "serve_has_workers", lambda: False)
    assert procs.serve_command(1)[-2:] == ["hub.cli", "serve"]
    with pytest.raises(ValueError, match="no --workers option"):
        procs.serve_command(2)


_PARENT = """
import subprocess, sys
burn = ("import sys, time\\nt = time.process_time()\\nwhile time.process_time() - t < 0.3: pass\\n"
        "print('burned', flush=True)\\nsys.stdin.read()")
child = subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
print(child.stdout.readline().strip(), flush=True)
input()
child.communicate("")
print("reaped", flush=True)
input()
"""


def test_cpu_time_of_a_process_tree_keeps_what_its_ended_children_spent() -> None:
    """A PostgreSQL whose backends end during a run (pooled connections closed) must not lose their time."""
    import subprocess
    import sys

    with subprocess.Popen([sys.executable, "-c", _PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True) as parent:
        assert parent.stdin is not None and parent.stdout is not None
        try:
            assert parent.stdout.readline().strip() == "burned"
            with_child_alive = procs.cpu_seconds(parent.pid)
            assert with_child_alive >= 0.3  # the child's burn, counted while it lives
            parent.stdin.write("\n")
            parent.stdin.flush()
            assert parent.stdout.readline().strip() == "reaped"
            after_reaping = procs.cpu_seconds(parent.pid)
            assert with_child_alive <= after_reaping <= with_child_alive + 0.2, "kept once, not twice"
        finally:
            parent.kill()


def test_the_cpu_lines_give_each_sides_cpu_per_ticket_and_the_rate_both_would_allow_on_this_machine(
        capsys: pytest.CaptureFixture[str]) -> None:
    _cpu_lines("hub CPU", Spent(server_s=3.0, postgres_s=1.5), 3_000)  # 1.0 + 0.5 ms of CPU per ticket
    lines = capsys.readouterr().out.splitlines()
    assert "1.00 ms per ticket" in lines[0] and "0.50 ms per ticket" in lines[1]
    cores = len(os.sched_getaffinity(0))
    assert f"{cores * 1000 / 1.5:,.0f} tickets/s on {cores} cores (1.50 ms of CPU per ticket" in lines[2]
    _cpu_lines("bare app CPU", Spent(server_s=3.0, postgres_s=None), 3_000)  # PostgreSQL elsewhere: no ceiling
    assert len(capsys.readouterr().out.splitlines()) == 1
