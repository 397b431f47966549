"""HTTP load with wrk (Debian's `wrk`, scripts/system-packages.sh): far cheaper than a Python client, which
matters when the load generator shares the hub's two cores.

The Lua script cycles through realistic tickets (tools.simulation's TicketFactory), gives every ticket a
`ticket_no` of its own (run id, thread, counter), counts answers by status (and the tickets a batch answer
accepted), and prints one JSON line that tools.bench.stats.parse_wrk reads.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

import orjson

from tools.bench.stats import WRK_MARKER, WrkResult, parse_wrk
from tools.router import CountyRouter
from tools.simulation.channels import TicketFactory

SINGLE_PATH = "/api/v1/hotline/tickets"
BATCH_PATH = "/api/v1/hotline/tickets:batch"
_PLACEHOLDER = "@@TICKET_NO@@"

_SCRIPT = r"""
local templates = {
%(templates)s
}
local path = "%(path)s"
local per_request = %(per_request)d
local run_id = "%(run_id)s"
local headers = {["Content-Type"] = "application/json", ["X-API-Key"] = "%(key)s"}

local threads = {}
local threads_started = 0
function setup(thread)
  thread:set("thread_no", threads_started)
  threads_started = threads_started + 1
  table.insert(threads, thread)
end

statuses = {}
accepted = 0
no_retry_after = 0
local pause_ms = 0  -- the Retry-After of the last 503, waited before this thread's next request
local counter = 0

local function ticket()
  counter = counter + 1
  local t = templates[(counter %% #templates) + 1]
  -- Each pass over the templates moves their points ~390 m (see ticket_templates): no ticket repeats another.
  local pass = math.floor(counter / #templates)
  local shift = {LNG = %(lng_step)s * (pass %% %(lng_passes)d),
                 LAT = %(lat_step)s * (math.floor(pass / %(lng_passes)d) %% %(lat_passes)d)}
  local after = string.gsub(t[2], "@@(%%u+):([%%d%%.%%-]+)@@",
                            function(axis, v) return string.format("%%.6f", tonumber(v) + shift[axis]) end)
  return t[1] .. run_id .. "-" .. thread_no .. "-" .. counter .. after
end

function request()
  local body
  if per_request == 1 then
    body = ticket()
  else
    local parts = {}
    for i = 1, per_request do parts[i] = ticket() end
    body = '{"tickets":[' .. table.concat(parts, ",") .. ']}'
  end
  return wrk.format("POST", path, headers, body)
end

function response(status, hdrs, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status >= 200 and status < 300 then
    if per_request == 1 then
      accepted = accepted + 1
    else
      local n = string.match(body, '"accepted":%%s*(%%d+)')
      if n then accepted = accepted + tonumber(n) end
    end
  elseif status == 503 then
    local retry_after = hdrs["Retry-After"] or hdrs["retry-after"]
    if retry_after == nil then
      no_retry_after = no_retry_after + 1
    else
      pause_ms = math.min(tonumber(retry_after) or 1, 5) * 1000
    end
  end
end
%(delay)s

function done(summary, latency, requests)
  local all, acc, nra = {}, 0, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do all[k] = (all[k] or 0) + v end
    acc = acc + t:get("accepted")
    nra = nra + t:get("no_retry_after")
  end
  local parts = {}
  for k, v in pairs(all) do parts[#parts + 1] = string.format('"%%d":%%d', k, v) end
  local e = summary.errors
  io.write(string.format(
    '%(marker)s{"duration_us":%%d,"requests":%%d,"accepted":%%d,"no_retry_after":%%d,"statuses":{%%s},' ..
    '"errors":{"connect":%%d,"read":%%d,"write":%%d,"timeout":%%d},' ..
    '"latency_us":{"p50":%%d,"p99":%%d,"max":%%d}}\n',
    summary.duration, summary.requests, acc, nra, table.concat(parts, ","),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def _lua_string(text: str) -> str:
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


# Cycling through a fixed set of templates would repeat each ticket's place and category every pass, and the hub
# would merge nine in ten tickets of a long run into earlier ones (a duplicate rate no hotline has). So each pass
# moves the points east by LNG_STEP degrees (~390 m at Nanning's latitude, beyond the 150 m merge radius), for
# LNG_PASSES passes, and then north by LAT_STEP (~390 m) for LAT_PASSES rows of those: 256 passes, 256,000 tickets
# from the usual 1,000 templates before any repeats, more than any scenario sends (the memory row's 200,000). With
# the east steps alone a run repeated itself after 16,000 tickets, inside the consoles row's second half: its last
# 2,000 tickets were all merged into earlier ones (a merge costs a second commit and a read of the parent), so the
# phase with consoles carried a heavier mix than the phase without (2026-12-07). A template's point is written
# `@@LNG:<degrees>@@` and `@@LAT:<degrees>@@` and filled in per ticket.
LNG_STEP = 0.0038
LNG_PASSES = 16
LAT_STEP = 0.0035
LAT_PASSES = 16
_SHIFTED = re.compile(rb"@@(LNG|LAT):([-\d.]+)@@")


def ticket_templates(n: int = 1000, seed: int = 1) -> list[tuple[str, str]]:
    """`n` realistic tickets as JSON, each split around its ticket_no (which the script fills in), with the
    longitude and latitude of its point as `@@LNG:<degrees>@@` and `@@LAT:<degrees>@@` (shifted on each pass;
    see LNG_STEP)."""
    factory = TicketFactory(CountyRouter.nanning(), seed=seed)
    out = []
    for _ in range(n):
        ticket: dict[str, Any] = factory.ticket()
        ticket["ticket_no"] = _PLACEHOLDER
        text = orjson.dumps(ticket).decode()
        if "location" in ticket:
            for axis in ("lng", "lat"):
                value = ticket["location"][axis]
                text = text.replace(f'"{axis}":{orjson.dumps(value).decode()}',
                                    f'"{axis}":@@{axis.upper()}:{value}@@', 1)
        before, after = text.split(_PLACEHOLDER)
        out.append((before, after))
    return out


def shifted(after: bytes, ticket_index: int, templates: int) -> bytes:
    """A template's tail for ticket number `ticket_index`: its point moved for the pass it is in."""
    passes = ticket_index // templates
    shift = {b"LNG": LNG_STEP * (passes % LNG_PASSES), b"LAT": LAT_STEP * ((passes // LNG_PASSES) % LAT_PASSES)}
    return _SHIFTED.sub(lambda m: f"{float(m.group(2)) + shift[m.group(1)]:.6f}".encode(), after)


# A batch client waits a 503's Retry-After before its next request, as the hub asks (and as a hotline system
# does: README, "Overload"); without it 8 clients sent ~1,000 refused batches a second at a full hub, whose
# refusals then took a fifth of its CPU. wrk calls `delay()` before every request of a script that defines it,
# an event-loop turn each: so only the batch script does (the single-ticket run has no 503 to wait on). The
# wait goes to the thread's next request, which with 8 connections is nearly always the refused one's.
_DELAY = "function delay()\n  local ms = pause_ms\n  pause_ms = 0\n  return ms\nend"


def write_script(folder: Path, templates: list[tuple[str, str]], key: str, *, per_request: int = 1) -> Path:
    """A wrk script for the single endpoint (per_request 1) or the batch endpoint (per_request tickets each)."""
    rows = ",\n".join(f"  {{{_lua_string(b)}, {_lua_string(a)}}}" for b, a in templates)
    script = _SCRIPT % {"templates": rows, "path": SINGLE_PATH if per_request == 1 else BATCH_PATH,
                        "per_request": per_request, "run_id": "W" + secrets.token_hex(4), "key": key,
                        "marker": WRK_MARKER, "lng_step": repr(LNG_STEP), "lng_passes": LNG_PASSES,
                        "lat_step": repr(LAT_STEP), "lat_passes": LAT_PASSES,
                        "delay": _DELAY if per_request > 1 else ""}
    path = folder / f"wrk-{secrets.token_hex(4)}.lua"
    path.write_text(script, encoding="utf-8")
    return path


async def run_wrk(base: str, key: str, templates: list[tuple[str, str]], *, seconds: float, connections: int,
                  per_request: int = 1, threads: int = 1, timeout_s: float = 30.0) -> WrkResult:
    """Closed-loop load: `connections` clients, each sending its next request as soon as it is answered."""
    with tempfile.TemporaryDirectory(prefix="cityloop-wrk-") as tmp:
        script = write_script(Path(tmp), templates, key, per_request=per_request)
        proc = await asyncio.create_subprocess_exec(
            "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", f"--timeout={timeout_s:g}s",
            "-s", str(script), base, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
    return parse_wrk(out.decode(errors="replace"))
