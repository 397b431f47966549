"""The crew: operators, county dispatchers, township handlers and grid workers who move cases along."""

from __future__ import annotations

import asyncio
import logging
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import aiohttp

from dispatch.codes import unit_level
from dispatch.matrix import Matrix, hints_of
from dispatch.responsibility import Unit, responsible_unit
from geo.areas import NANNING, read_townships
from tools.demo_matrix import demo_matrix
from tools.simulation import content
from tools.simulation.accounts import StaffRoom
from tools.simulation.config import CITY, OPERATOR
from tools.simulation.http import Answer, Http, error_text
from tools.simulation.report import Summary

log = logging.getLogger(__name__)


# ---- the crew: the staff who move the cases along ------------------------------------------------------


@dataclass(slots=True)
class Plan:
    version: int  # the case's version the plan was made for
    step: str  # what will be done: a key of DELAYS_MIN
    due: float  # loop time
    busy: bool = False


# Minutes a real person takes before acting, by the case's step (divided by `speed`): the quick end of real
# practice (sign-off is due within 2 working hours, simple street problems are fixed within the hour), so that
# at the demo's 60× a case typically closes in a minute or two. Reviews of returns and extensions wait longer:
# the dispatcher has a queue of them, and the consoles show them waiting.
DELAYS_MIN: Final[dict[str, tuple[float, float]]] = {
    "triage": (2, 10), "dispatched": (2, 15), "return_requested": (10, 90), "progress": (5, 20),
    "resolve": (15, 60), "sensor": (2, 8), "resolved": (5, 30), "extend": (5, 20), "extension": (10, 90),
}
SATISFACTION: Final = (("satisfied", 72), ("basically_satisfied", 14), ("dissatisfied", 7), ("unreachable", 7))
RETURN_SHARE: Final = 0.10
APPROVE_RETURN: Final = 0.65
EXTENSION_SHARE: Final = 0.08  # accepted cases whose unit asks for more time (延期申请) before it resolves
APPROVE_EXTENSION: Final = 0.8

# How the lead unit keeps to a time limit, drawn per case and clock (seeded by the case id, so that it stays
# decided): most act at once; the others act near the limit (after 预警), past it (after 催办), after the
# automatic 督办, or only after 挂牌督办 — the range a real centre's consoles show. Where each pace acts is read
# from the case's own SLA schedule (the instants of its ladder steps), so it holds whatever the policy's limits
# and the crew's speed; a pace whose moment is further away than LATE_HORIZON_S (a working-time clock paused
# for the weekend, real limits of days) acts at once instead, so that the open cases do not pile up.
PACES: Final = (("prompt", 64), ("near", 12), ("late", 10), ("supervised", 8), ("flagged", 6))
PACE_WINDOWS: Final[dict[str, tuple[str, str | None]]] = {
    "near": ("warning", "reminder"), "late": ("reminder", "supervision"), "supervised": ("supervision", "flagged"),
    "flagged": ("flagged", None)}
PACED_STEPS: Final = {"dispatched": "sign", "resolve": "resolve"}  # the step → the clock it is late on
LATE_HORIZON_S: Final = 30 * 60.0


def staff_of(case: dict[str, Any]) -> tuple[str, str] | None:
    """The role and area of the lead unit's own staff (dispatch.permissions.handles: only they act)."""
    lead = (case.get("units") or {}).get("lead")
    if not lead:
        return None
    level = unit_level(lead)
    area = str(lead["code"]).partition("-")[0]
    if level == "city":
        return OPERATOR
    if level == "county":
        return "county_dispatcher", area[:6]
    if level in ("township", "community", "grid") and len(area) >= 9:
        return "township_handler", area[:9]
    return None


class FollowUpCrew:
    """Every `poll_s` the operator lists the open cases; each case gets a plan due after a realistic delay, and
    when it is due the right person acts: the operator triages, reviews returns and calls citizens back; the
    lead unit's staff sign for (most), return (~10 %), report progress (sometimes with a photo) and resolve; a
    grid worker verifies the resolution of a grid report on site. IoT cases are resolved once the sensor has
    recovered, and then close on their own."""

    STATES: Final = ("triage", "dispatched", "return_requested", "accepted", "resolved")
    PAGE: Final = 200
    PAGES: Final = 3
    WORKERS: Final = 8

    def __init__(self, http: Http, staff: StaffRoom, summary: Summary, rng: random.Random, *, speed: float,
                 poll_s: float, matrix: Matrix | None = None) -> None:
        self._http = http
        self._staff = staff
        self._summary = summary
        self._rng = rng
        self._speed = speed
        self._poll_s = poll_s
        self._matrix = matrix if matrix is not None else demo_matrix()
        self._plans: dict[str, Plan] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._workers = asyncio.Semaphore(self.WORKERS)
        self._townships = {t.code: t.name for t in read_townships()}
        self._extended: set[str] = set()  # cases whose unit has asked for an extension (once is enough)

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self._round()
                except Exception:  # a bug in one round must not stop the crew
                    log.exception("simulator: crew round failed")
                    self._summary.errors += 1
                await asyncio.sleep(self._poll_s)
        finally:
            await cancel_all(self._tasks)

    async def _round(self) -> None:
        operator = await self._staff.token(*OPERATOR)
        if operator is None:
            return
        loop = asyncio.get_running_loop()
        seen: set[str] = set()
        due: list[tuple[float, dict[str, Any], Plan]] = []
        for state in self.STATES:
            for case in await self._list(operator, state):
                seen.add(str(case["case_id"]))
                plan = self._plan(case, loop.time())
                if plan is not None and not plan.busy and plan.due <= loop.time():
                    due.append((plan.due, case, plan))
        # Longest waiting first, whatever the state: a crew that falls behind still closes cases, not only signs.
        due.sort(key=lambda item: item[0])
        for _due, case, plan in due[:max(0, 4 * self.WORKERS - len(self._tasks))]:
            plan.busy = True
            task = asyncio.create_task(self._work(case, plan))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        for case_id in list(self._plans):  # closed, merged or out of sight: forget
            if case_id not in seen and not self._plans[case_id].busy:
                del self._plans[case_id]

    async def _list(self, token: str, state: str) -> list[dict[str, Any]]:
        cases: list[dict[str, Any]] = []
        params: dict[str, Any] = {"state": state, "limit": self.PAGE}
        for _ in range(self.PAGES):
            answer = await self._http.call("crew", "GET", "/api/v1/cases", token=token, params=params)
            if answer is None or not answer.ok:
                if answer is not None and answer.status == 401:
                    self._staff.forget(*OPERATOR)
                break
            cases += answer.body["cases"]
            if not answer.body.get("next_cursor"):
                break
            params = {**params, "cursor": answer.body["next_cursor"]}
        return cases

    def _plan(self, case: dict[str, Any], now: float) -> Plan | None:
        """The case's plan: kept while the case stays at the same step (a repeated alarm or a timer changes
        its version, not what is to be done), new — with a fresh delay — when it moved on."""
        case_id = str(case["case_id"])
        plan = self._plans.get(case_id)
        if plan is not None and (plan.version == case["version"] or plan.busy):
            return plan
        step = self._step(case)
        if step is None:
            self._plans.pop(case_id, None)
            return None
        if plan is not None and plan.step == step and plan.due != math.inf:
            plan.version = case["version"]
            return plan
        low, high = DELAYS_MIN[step]
        delay = self._rng.uniform(low, high) * 60.0 / self._speed
        late = self._late_by_pace(case, step)
        plan = Plan(case["version"], step, now + (delay if late is None else max(delay, late)))
        self._plans[case_id] = plan
        return plan

    @staticmethod
    def pace(case_id: str, clock: str) -> str:
        """How the lead unit keeps to this clock of this case (one of PACES), the same every time it is asked."""
        rng = random.Random(f"{case_id}:{clock}")
        return content.pick(rng, PACES)

    def _late_by_pace(self, case: dict[str, Any], step: str) -> float | None:
        """Seconds from now when a unit of a non-prompt pace acts on this step; None: at its usual delay."""
        clock_name = PACED_STEPS.get(step)
        clock = ((case.get("sla") or {}).get(clock_name) or {}) if clock_name else {}
        steps = clock.get("steps") or {}
        if not clock_name or not steps:
            return None
        rng = random.Random(f"{case['case_id']}:{clock_name}:{case['version']}")
        pace = self.pace(str(case["case_id"]), clock_name)
        if pace == "prompt" or PACE_WINDOWS[pace][0] not in steps:
            return None
        first, then = PACE_WINDOWS[pace]
        begin = datetime.fromisoformat(steps[first])
        if then is not None and then in steps:
            end = datetime.fromisoformat(steps[then])
        else:  # after the last step: a quarter of the time the clock has run so far
            end = begin + (begin - datetime.fromisoformat(clock["start"])) / 4
        target = begin + (end - begin) * rng.uniform(0.2, 0.8)
        wait = (target - datetime.now(UTC)).total_seconds()
        return wait if wait <= LATE_HORIZON_S else None

    def _step(self, case: dict[str, Any]) -> str | None:
        state = case["state"]
        if state == "accepted":
            if case.get("source") == "iot":
                # A machine-detected case is confirmed once the sensor says the problem is gone.
                return "sensor" if (case.get("sensor") or {}).get("state") == "recovered" else None
            if case.get("extension"):
                return "extension"  # the unit asked for more time: the level above reviews it
            if self._wants_extension(case):
                return "extend"
            # Two cases in five get a progress report first; decided by the case id, so that it stays decided.
            first_progress = int(str(case["case_id"])[-2:], 16) % 5 < 2
            return "progress" if first_progress and not case.get("progress_count") else "resolve"
        if state == "resolved" and case.get("source") == "iot":
            return None  # resolved before the recovery: it closes when the sensor recovers
        return state if state in DELAYS_MIN else None

    def _wants_extension(self, case: dict[str, Any]) -> bool:
        """A share of the units ask once for more time, while the resolution deadline is still ahead."""
        case_id = str(case["case_id"])
        due = (case.get("deadlines") or {}).get("resolve_by")
        if case_id in self._extended or not due or datetime.fromisoformat(due) <= datetime.now(UTC):
            return False
        return random.Random(f"{case_id}:extension").random() < EXTENSION_SHARE

    async def _extend(self, case: dict[str, Any]) -> Answer | None:
        """延期申请: half as long again as the resolution limit, past the current deadline."""
        self._extended.add(str(case["case_id"]))
        resolve = (case.get("sla") or {}).get("resolve") or {}
        due = datetime.fromisoformat(case["deadlines"]["resolve_by"])
        until = due + timedelta(seconds=max(60, int(resolve.get("limit_s") or 3600) // 2))
        return await self._do(case, staff_of(case), "request_extension", until=until.isoformat(),
                              reason=content.extension_reason(self._rng))

    async def _work(self, case: dict[str, Any], plan: Plan) -> None:
        answer: Answer | None = None
        try:
            async with self._workers:
                answer = await self._act(case, plan.step)
        except Exception:
            log.exception("simulator: crew action on %s failed", case["case_id"])
            self._summary.errors += 1
            plan.due = math.inf  # a bug: once in the log is enough, not every round
        finally:
            plan.busy = False
            if answer is not None and answer.ok:
                self._plans.pop(str(case["case_id"]), None)  # done: the case's next step gets its own plan
            elif answer is not None and answer.status in (403, 404, 422):
                plan.due = math.inf  # refused at this step: leave it until the case moves on
            # else a version conflict or no answer: the plan stays due, and the next round acts on a fresh read

    async def _act(self, case: dict[str, Any], step: str) -> Answer | None:
        if step == "triage":
            return await self._triage(case)
        if step == "dispatched":
            return await self._sign_or_return(case)
        if step == "return_requested":
            approve = self._rng.random() < APPROVE_RETURN
            answer = await self._do(case, OPERATOR, "review_return", approve=approve)
            if approve and answer is not None and answer.status == 422:  # the system has no other unit to propose
                answer = await self._do(case, OPERATOR, "review_return", approve=False)
            return answer
        if step == "extend":
            return await self._extend(case)
        if step == "extension":
            return await self._do(case, OPERATOR, "review_extension", approve=self._rng.random() < APPROVE_EXTENSION)
        if step in ("progress", "resolve", "sensor"):
            return await self._handle(case, step)
        if step == "resolved":
            return await self._call_back(case)
        return None

    async def _do(self, case: dict[str, Any], who: tuple[str, str] | None, action: str,
                  **fields: Any) -> Answer | None:
        if who is None:
            return None
        token = await self._staff.token(*who)
        if token is None:
            return None
        answer = await self._http.call(
            "crew", "POST", f"/api/v1/cases/{case['case_id']}/actions", token=token, benign=(409,),
            json={"action": action, "expected_version": case["version"], **fields})
        if answer is None:
            return None
        if answer.ok:
            self._summary.actions[action] += 1
            case.update(answer.body["case"])  # the next action of this round starts from the new version
        elif answer.status == 409:
            # Someone (a timer, a merge, a repeated alarm) moved it first: the next round re-reads and replans.
            self._summary.conflicts += 1
        else:
            if answer.status == 401:
                self._staff.forget(*who)
            self._summary.refused[f"{action} {answer.status}"] += 1
            log.info("simulator: %s %s by %s refused: %s", action, case["case_id"], who[0], error_text(answer))
        return answer

    async def _triage(self, case: dict[str, Any]) -> Answer | None:
        """The operator phones the caller back and places the case, or rejects what cannot be placed."""
        areas = self._target_areas(case)
        if areas is None:
            outside = case.get("triage_reason") == "outside_city"
            return await self._do(case, OPERATOR, "reject",
                                  reason=content.REJECT_OUTSIDE if outside else content.REJECT_UNPLACED)
        deepest = areas["township"] if "township" in areas else areas["county"]
        unit = self._unit_for(case, areas)
        return await self._do(case, OPERATOR, "dispatch", area=deepest["code"], unit=unit.code, unit_name=unit.name,
                              areas=areas)

    def _target_areas(self, case: dict[str, Any]) -> dict[str, dict[str, str]] | None:
        areas = case.get("areas") or {}
        if "county" in areas:
            return {lv: dict(areas[lv]) for lv in ("city", "county", "township") if lv in areas}
        candidates = [a for a in (case.get("routing") or {}).get("ambiguous") or [] if len(a.get("code", "")) >= 6]
        if not candidates:
            return None
        chosen = self._rng.choice(candidates)  # the caller confirmed which of the places they meant
        county = chosen["code"][:6]
        if county not in content.county_names():
            return None
        out = {"city": {"code": CITY, "name": NANNING.name},
               "county": {"code": county, "name": content.county_names()[county]}}
        township = chosen["code"][:9]
        if len(chosen["code"]) >= 9 and township in self._townships:
            out["township"] = {"code": township, "name": self._townships[township]}
        return out

    def _unit_for(self, case: dict[str, Any], areas: dict[str, dict[str, str]]) -> Unit:
        """The unit the city's responsibility catalogue names for this category there (the operator looks it up)."""
        category = (case.get("report") or {}).get("category")
        if isinstance(category, str) and self._matrix.knows(category):
            return self._matrix.assign(category, areas, hints_of(case.get("report") or {})).lead
        return responsible_unit(areas)[0]

    async def _sign_or_return(self, case: dict[str, Any]) -> Answer | None:
        who = staff_of(case)
        # Machine-detected cases are not argued about; a case comes back at most once (then the unit signs).
        returnable = case.get("source") != "iot" and not case.get("return_count") and not case.get("arbitrated")
        if returnable and self._rng.random() < RETURN_SHARE:
            reason = "not_our_remit" if self._rng.random() < 0.8 else "wrong_area"
            return await self._do(case, who, "return", reason=reason, note=content.return_note(self._rng, reason))
        return await self._do(case, who, "accept")

    async def _handle(self, case: dict[str, Any], step: str) -> Answer | None:
        who = staff_of(case)
        if step == "sensor":
            return await self._do(case, who, "resolve", note=content.sensor_resolve_note(self._rng))
        if step == "progress":
            photos = await self._upload_photo(who) if self._rng.random() < 0.5 else []
            return await self._do(case, who, "progress", note=content.progress_note(self._rng), photos=photos)
        category = str((case.get("report") or {}).get("category") or "")
        return await self._do(case, who, "resolve", note=content.resolve_note(self._rng, category))

    async def _upload_photo(self, who: tuple[str, str] | None) -> list[str]:
        token = await self._staff.token(*who) if who else None
        if token is None:
            return []
        photo = content.make_photo(self._rng)

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData(default_to_multipart=True)
            data.add_field("photo", photo, filename="progress.jpg", content_type="image/jpeg")
            return data

        answer = await self._http.call("crew", "POST", "/api/v1/photos", token=token, body=form)
        return [str(answer.body["photo_id"])] if answer is not None and answer.ok else []

    async def _call_back(self, case: dict[str, Any]) -> Answer | None:
        if case.get("source") == "grid":  # 核查: a grid worker of the township looks at the spot
            areas = case.get("areas") or {}
            area = (areas.get("township") or areas.get("county") or {}).get("code")
            if area:
                verdict = content.pick(self._rng, (("satisfied", 9), ("basically_satisfied", 1)))
                return await self._do(case, ("grid_worker", area), "callback", contacted=True, solved=True,
                                      satisfaction=verdict)
        tried = {c.get("satisfaction") for c in case.get("callbacks") or [] if isinstance(c, dict)}
        choices = [(s, w) for s, w in SATISFACTION
                   if not (s == "unreachable" and "unreachable" in tried)  # the second call gets through
                   and not (s == "dissatisfied" and case.get("redo_count"))]  # a redo mostly fixes it
        satisfaction = content.pick(self._rng, choices)
        solved = satisfaction in ("satisfied", "basically_satisfied")
        return await self._do(case, OPERATOR, "callback", contacted=satisfaction != "unreachable", solved=solved,
                       satisfaction=satisfaction)


async def cancel_all(tasks: set[asyncio.Task[None]]) -> None:
    for task in list(tasks):
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
