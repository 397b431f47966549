"""Application service for actions on cases: load, let the domain decide, append with the expected
version, then carry out follow-ups on linked cases (merge parents and children) as the system."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from dispatch.case import area_codes
from dispatch.commands import Command, parse_command
from dispatch.events import Case, DomainEvent
from dispatch.fold import fold_onto
from dispatch.lifecycle import decide
from dispatch.linking import follow_ups, named_cases
from dispatch.permissions import SYSTEM, Actor, Refusal
from dispatch.policy import Policy
from geo.areas import code_within
from hub.identity.access import Principal, may_see
from hub.infra.clock import Clock
from hub.services.actors import recorded_actor
from hub.store.committer import GroupCommitter
from hub.store.events import AppendRequest, VersionConflict
from hub.store.reads import CaseReads

log = logging.getLogger(__name__)


class ActionError(Exception):
    """Refused before anything was written: `status` is the HTTP answer (403, 404, 409, 422)."""

    def __init__(self, status: int, code: str, message: str, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or []


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    case: Case
    position: int


class CaseActions:
    def __init__(self, reads: CaseReads, committer: GroupCommitter, policy: Policy, clock: Clock,
                 area_chain: Callable[[str], dict[str, dict[str, str]]] | None = None) -> None:
        self._reads = reads
        # Names of an area and the levels above it, so that a dispatch to an area code records real names.
        self._area_chain = area_chain
        self._committer = committer
        self._policy = policy
        self._clock = clock

    async def load(self, case_id: uuid.UUID) -> Case | None:
        return await self._reads.get(case_id)

    async def execute(self, principal: Principal, case_id: uuid.UUID, body: dict[str, Any]) -> ActionOutcome:
        case = await self.load(case_id)
        if case is None or not may_see(principal, case):  # alike, so that case ids cannot be probed
            raise ActionError(404, "not_found", "no such case")
        expected = body.get("expected_version")
        if not isinstance(expected, int) or isinstance(expected, bool):
            raise ActionError(422, "validation_failed", "expected_version is required",
                              [{"field": "expected_version", "message": "an integer: the version you last saw"}])
        action = body.get("action")
        if not isinstance(action, str):
            raise ActionError(422, "validation_failed", "action is required",
                              [{"field": "action", "message": "the name of the action"}])
        if action == "dispatch" and "areas" not in body and isinstance(body.get("area"), str) and self._area_chain:
            body = {**body, "areas": self._area_chain(body["area"]) or None}
        try:
            command = parse_command(action, body)
        except ValidationError as exc:
            fields = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                      for e in exc.errors(include_url=False)]
            raise ActionError(422, "validation_failed", "the action has invalid fields", fields) from None
        except ValueError as exc:
            raise ActionError(422, "validation_failed", str(exc), [{"field": "action", "message": str(exc)}]) from None
        _check_area(command, principal)
        if expected != case["version"]:
            raise ActionError(409, "version_conflict",
                              f"the case is at version {case['version']}, not {expected}: reload it and retry")
        actor = Actor(principal.name, principal.role, principal.area)
        outcome = await self._decide_and_append(case, command, actor, expected, principal)
        if isinstance(outcome, Refusal):
            status = 403 if outcome.code == "forbidden_role" else 422
            # A refused category names its field, like a malformed one: the console shows it by the picker.
            fields = [{"field": "category", "message": outcome.reason.removeprefix("category: ")}] \
                if outcome.reason.startswith("category: ") else []
            raise ActionError(status, outcome.code, outcome.reason, fields)
        return outcome

    async def _decide_and_append(self, case: Case, command: Command, actor: Actor, expected: int,
                                 principal: Principal | None = None) -> ActionOutcome | Refusal:
        related = await self._related(case, command, principal)
        now = self._clock.now()
        decision = decide(case, command, actor, now, self._policy, related)
        if isinstance(decision, Refusal):
            return decision
        if not decision:
            return ActionOutcome(case, 0)
        new_case = fold_onto(case, decision, now)
        try:
            result = await self._committer.append(AppendRequest(
                uuid.UUID(case["case_id"]), expected, decision, now,
                metadata={"actor": f"{actor.role}:{actor.name}", **self._recorded(principal), "action": command.action,
                          "scope": sorted(set(area_codes(case)) | set(area_codes(new_case)))},
                projection=new_case))
        except VersionConflict as conflict:
            raise ActionError(409, "version_conflict", f"the case changed meanwhile (now version {conflict.actual}): "
                              "reload it and retry") from None
        await self.follow_up(new_case, decision)
        return ActionOutcome(new_case, result.last_position)

    def _recorded(self, principal: Principal | None) -> dict[str, Any]:
        """The person's name and unit at the time of the action (none for the system's follow-ups)."""
        return recorded_actor(principal, self._policy.matrix, self._area_chain) if principal is not None else {}

    async def _related(self, case: Case, command: Command, principal: Principal | None) -> dict[str, Case]:
        """The other cases the command names, each only if `principal` may see it (the system, acting
        for follow-ups and timers, sees every case); the domain refuses a command whose case is missing."""
        related: dict[str, Case] = {}
        for named in named_cases(case, command):
            try:
                other = await self.load(uuid.UUID(named))
            except ValueError:
                continue  # not a case id at all: names no case
            if other is not None and (principal is None or may_see(principal, other)):
                related[named] = other
        return related

    async def follow_up(self, case: Case, events: list[DomainEvent], known: Mapping[str, Case] | None = None) -> None:
        """Linked cases record what happened to their parent or child. Each is its own append: on a
        version conflict it is retried from a fresh read, a few times. `known`: linked cases the caller has just
        read (intake's automatic merge read the parent), tried first as they are."""
        for follow in follow_ups(case, events):
            other = (known or {}).get(follow.case_id)
            for _attempt in range(5):
                if other is None:
                    other = await self.load(uuid.UUID(follow.case_id))
                    if other is None:
                        break
                try:
                    outcome = await self._decide_and_append(other, follow.command, SYSTEM, other["version"])
                except ActionError:
                    other = None  # a concurrent change: read again
                    continue
                if isinstance(outcome, Refusal):
                    log.warning("follow-up refused", extra={"case": follow.case_id, "reason": outcome.reason})
                break
            else:
                log.error("follow-up not recorded: the linked case kept changing",
                          extra={"case": follow.case_id, "action": follow.command.action, "from": case["case_id"]})

    async def system(self, case: Case, events: list[DomainEvent]) -> bool:
        """Append events the system decided (timers); False when the case moved on meanwhile."""
        now = self._clock.now()
        new_case = fold_onto(case, events, now)
        try:
            await self._committer.append(AppendRequest(
                uuid.UUID(case["case_id"]), case["version"], events, now,
                metadata={"actor": "system", "scope": area_codes(new_case)}, projection=new_case))
        except VersionConflict:
            return False
        return True


def _check_area(command: Command, principal: Principal) -> None:
    """An area a command names (a dispatch's or a sub-task's) must lie in the caller's jurisdiction:
    a county dispatcher cannot hand a case to another county's units."""
    area = getattr(command, "area", None)
    home = principal.area
    if isinstance(area, str) and home is not None and not code_within(area, home):
        raise ActionError(422, "outside_jurisdiction", f"area {area} is outside your jurisdiction {home}",
                          [{"field": "area", "message": f"an area inside {home}"}])
