"""SLA clocks (时限) and the escalation ladder 预警 → 催办 → 督办 → 挂牌督办.

A case's `sla` holds one schedule per clock ("sign" for 签收, "resolve" for 办结): its start, its limit and
the paused time in seconds of the clock's kind, its deadline and the instant of each ladder step. The
schedule is computed when a decision moves it and recorded in that decision's event, so replaying a case
never needs today's policy, and the timer decision below is a comparison of stored instants with `now`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from dispatch.events import Case, DomainEvent, JsonDict
from dispatch.sla_policy import ClockKind, SlaPolicy

# The event each ladder step records, in the order they fall due on one clock.
STEP_EVENTS: Final = {
    "warning": "case.sla_warning",  # 预警, at `warn_at` of the limit
    "reminder": "case.reminded",    # 催办, at the deadline
    "supervision": "case.supervised",  # 督办 by the level above
    "flagged": "case.flagged",      # 挂牌督办 by the city
}
_ACTIVE_CLOCKS: Final = {"dispatched": ("sign", "resolve"), "accepted": ("resolve",)}
_STEP_NOTES: Final = {"supervision": "超期督办 (automatic supervision: past the deadline)"}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)  # deadlines are kept to the second; integer clock arithmetic


# Deadlines on a working-time clock walk the calendar (~20 µs each, four per clock, two clocks per dispatch).
# Every case dispatched in the same minute asks the same question from nearly the same instant, so the walk
# is done once per (policy, minute, limit) and the answer for `minute + s` derived from it — exactly:
# - when the whole minute is working time and so are the 60 s after the answer `y` for the minute's start,
#   working time runs 1:1 with the clock on both sides, so the answer for `minute + s` is `y + s`;
# - when the minute holds no working time at all, the clock waits for the next opening from anywhere in it,
#   so the answer is `y` itself;
# - a minute a working period opens or closes in (and an answer within 60 s of a close) is not cached.
# The key holds the policy's identity, and the entry the policy itself: a policy whose id is reused after it
# is gone misses, it never reads another's answers. tests/unit/test_dispatch_sla.py checks it against the walk.
_MINUTE: Final = timedelta(minutes=1)
_NOT_SHIFTABLE: Final = 0
_SHIFTS: Final = 1  # the answer moves with the start
_WAITS: Final = 2  # the answer is the same from anywhere in the minute
_CACHE_MAX: Final = 8192  # a few minutes' worth of limits for a few policies; cleared whole when full
_after_cache: dict[tuple[int, datetime, tzinfo | None, int], tuple[SlaPolicy, datetime, int]] = {}


def after(policy: SlaPolicy, start: datetime, seconds: int, kind: ClockKind) -> datetime:
    """`policy.after(start, seconds, kind)`, cached per (policy, minute) for working-time clocks."""
    if kind != "working" or seconds <= 0:
        return policy.after(start, seconds, kind)
    minute = start.replace(second=0, microsecond=0)
    key = (id(policy), minute, start.tzinfo, seconds)
    entry = _after_cache.get(key)
    if entry is None or entry[0] is not policy:
        entry = (policy, *_minute_answer(policy, minute, seconds))
        if len(_after_cache) >= _CACHE_MAX:
            _after_cache.clear()
        _after_cache[key] = entry
    _, answer, mode = entry
    if mode == _SHIFTS:
        return answer + (start - minute)
    if mode == _WAITS:
        return answer
    return policy.after(start, seconds, kind)


def _minute_answer(policy: SlaPolicy, minute: datetime, seconds: int) -> tuple[datetime, int]:
    """The answer for the minute's start, and how it carries over to the rest of the minute."""
    answer = policy.after(minute, seconds, "working")
    worked = policy.measure(minute, minute + _MINUTE, "working")
    if worked == 0:
        return answer, _WAITS
    if worked == 60 and policy.after(minute, seconds + 60, "working") - answer == _MINUTE:
        return answer, _SHIFTS
    return answer, _NOT_SHIFTABLE


def _clock(start: datetime, limit_s: int, paused_s: int, kind: ClockKind, policy: SlaPolicy,
           due: datetime | None = None) -> JsonDict:
    due_at = due if due is not None else after(policy, start, limit_s + paused_s, kind)
    steps = {"warning": after(policy, start, round(policy.warn_at * limit_s) + paused_s, kind), "reminder": due_at}
    if policy.supervise_after is not None:
        steps["supervision"] = after(policy, due_at, round(policy.supervise_after * limit_s), kind)
    if policy.flag_after is not None:
        steps["flagged"] = after(policy, due_at, round(policy.flag_after * limit_s), kind)
    return {"start": iso(start), "limit_s": limit_s, "paused_s": paused_s, "due": iso(due_at),
            "steps": {step: iso(at) for step, at in steps.items()}}


def deadlines_of(sla: JsonDict | None) -> dict[str, str]:
    if sla is None:
        return {}
    out = {}
    for name, key in (("sign", "sign_by"), ("resolve", "resolve_by")):
        if sla.get(name):
            out[key] = sla[name]["due"]
    return out


# Reading "5d" as seconds of a working day parses the duration and sums the periods (~8 µs a limit): done once
# per policy, class and category. Keyed like `_after_cache`; categories are the channels' names, few.
_limits_cache: dict[tuple[int, str, str | None, str | None], tuple[SlaPolicy, tuple[ClockKind, int, int]]] = {}


def _limits_for(policy: SlaPolicy, sla_class: str, category: str | None,
                emergency: str | None) -> tuple[ClockKind, int, int]:
    key = (id(policy), sla_class, category, emergency)
    entry = _limits_cache.get(key)
    if entry is None or entry[0] is not policy:
        if len(_limits_cache) >= _CACHE_MAX:
            _limits_cache.clear()
        entry = _limits_cache[key] = (policy, policy.limits_for(sla_class, category, emergency))
    return entry[1]


def start_clocks(report: JsonDict, now: datetime, policy: SlaPolicy, emergency: str | None = None) -> JsonDict:
    """The schedule of a fresh assignment (dispatch or re-dispatch, 派单/改派). `emergency`: the level of the
    active incident the case is linked to (平急转换): its shorter limits apply, and the schedule says so."""
    sla_class = policy.class_of(report)
    category = report.get("category")
    kind, sign_s, resolve_s = _limits_for(policy, sla_class, category if isinstance(category, str) else None,
                                          emergency if policy.emergency_limits(emergency) is not None else None)
    start = _second(now)
    resolve = _clock(start, resolve_s, 0, kind, policy) if policy.clock_start == "dispatch" else None
    out: JsonDict = {"class": sla_class, "clock": kind, "done": [], "paused_at": None, "resolve_limit_s": resolve_s,
           "sign": _clock(start, sign_s, 0, kind, policy), "resolve": resolve}
    if policy.emergency_limits(emergency) is not None:
        out["emergency"] = emergency
    return out


def on_sign_off(sla: JsonDict, now: datetime, policy: SlaPolicy) -> JsonDict:
    """签收: the resolution clock starts now when the policy starts it at sign-off."""
    if sla.get("resolve") is not None:
        return sla
    return {**sla, "resolve": _clock(_second(now), sla["resolve_limit_s"], 0, sla["clock"], policy)}


def resume(sla: JsonDict, now: datetime, policy: SlaPolicy) -> JsonDict:
    """After a refused return the same unit carries on; the review time does not count against it."""
    paused_at = sla.get("paused_at")
    if paused_at is None:
        return sla
    out = {**sla, "paused_at": None}
    kind: ClockKind = sla["clock"]
    for name in ("sign", "resolve"):
        clock = sla.get(name)
        if clock is None:
            continue
        start = parse(clock["start"])
        paused = clock["paused_s"] + policy.measure(parse(paused_at), _second(now), kind)
        out[name] = _clock(start, clock["limit_s"], paused, kind, policy)
    return out


def extend(sla: JsonDict, until: datetime, policy: SlaPolicy) -> JsonDict:
    """An approved extension (延期) moves the resolution deadline; its warnings are due afresh."""
    clock = sla["resolve"]
    kind: ClockKind = sla["clock"]
    start, paused = parse(clock["start"]), clock["paused_s"]
    limit = max(0, policy.measure(start, _second(until), kind) - paused)
    return {**sla, "done": [k for k in sla.get("done", []) if not k.startswith("resolve:")],
            "resolve": _clock(start, limit, paused, kind, policy, due=_second(until))}


def restart_resolution(sla: JsonDict, now: datetime, policy: SlaPolicy) -> JsonDict:
    """重办: the redo gets a full resolution limit from now."""
    return {**sla, "done": [k for k in sla.get("done", []) if not k.startswith("resolve:")], "paused_at": None,
            "resolve": _clock(_second(now), sla["resolve_limit_s"], 0, sla["clock"], policy)}


def callback_deadline(now: datetime, policy: SlaPolicy) -> str:
    return iso(policy.after(_second(now), policy.seconds(policy.callback_window, "calendar"), "calendar"))


def _pending_steps(case: Case, policy: SlaPolicy) -> list[tuple[datetime, str, str]]:
    """(instant, clock, step) of every ladder step not yet recorded on the clocks now running."""
    sla = case.get("sla")
    if sla is None or sla.get("paused_at") is not None:
        return []
    enabled = {"warning", "reminder"}
    enabled |= {"supervision"} if policy.supervise_after is not None else set()
    enabled |= {"flagged"} if policy.flag_after is not None else set()
    done = set(sla.get("done", []))
    pending = []
    for name in _ACTIVE_CLOCKS.get(case.get("state", ""), ()):
        clock = sla.get(name)
        if clock is None:
            continue
        for step, at in clock["steps"].items():
            if step in enabled and f"{name}:{step}" not in done:
                pending.append((parse(at), name, step))
    return sorted(pending, key=lambda p: (p[0], list(STEP_EVENTS).index(p[2])))


def _awaiting_callback(case: Case) -> datetime | None:
    """When a resolved case with no valid callback closes by itself (no answer in the callback window)."""
    callback_by = (case.get("deadlines") or {}).get("callback_by")
    if case.get("state") != "resolved" or callback_by is None:
        return None
    return parse(callback_by)


def due_timer_events(case: Case, now: datetime, policy: SlaPolicy) -> list[DomainEvent]:
    """The timer events due at `now` that the case has not had yet; empty once they are applied (and always
    for imported history, see next_due_at)."""
    if case.get("imported"):
        return []
    window_end = _awaiting_callback(case)
    if window_end is not None:
        return [DomainEvent("case.closed", {"outcome": "no_answer"})] if window_end <= now else []
    events = []
    schedule = case.get("sla") or {}  # _pending_steps yields nothing for a case without a schedule
    for at, name, step in _pending_steps(case, policy):
        if at > now:
            break
        data: JsonDict = {"clock": name, "step": step, "due": schedule[name]["due"], "at": iso(at)}
        if step == "supervision":
            data |= {"note": _STEP_NOTES["supervision"], "auto": True}
        events.append(DomainEvent(STEP_EVENTS[step], data))
    return events


def next_due_at(case: Case, policy: SlaPolicy) -> datetime | None:
    """When `due_timer_events` will next have something for this case (None: nothing scheduled). Imported
    history never runs live clocks: its deadlines passed in the old system, and firing them now would warn,
    escalate and close cases that are long settled."""
    if case.get("imported"):
        return None
    window_end = _awaiting_callback(case)
    if window_end is not None:
        return window_end
    pending = _pending_steps(case, policy)
    return pending[0][0] if pending else None


def working_time(policy: SlaPolicy, now: datetime) -> JsonDict | None:
    """Whether working-time clocks count now — what a console shows as 非工作时间，计时暂停 — and when that
    changes. None when no class of the policy runs on working time (every clock is a calendar clock)."""
    if not any(limits.clock == "working" for limits in policy.classes.values()):
        return None
    running, changes_at = policy.calendar.running_at(now)
    return {"running": running, "changes_at": iso(changes_at)}
