"""SLA timers: a sweep over cases whose next step is due, appending what the domain says is due.

Timers live in the store (`cases.next_due_at`, written with every change), so a restart loses
nothing. Several hub processes may sweep at once: each step is appended with the case's expected
version, so when two processes decide the same step one commit wins and the other gets a conflict —
a step never fires twice.
"""

from __future__ import annotations

import logging

from dispatch.policy import Policy
from dispatch.sla import due_timer_events
from hub.infra.clock import Clock
from hub.infra.loops import every
from hub.infra.metrics import Metrics
from hub.services.case_actions import CaseActions
from hub.store.reads import CaseReads

log = logging.getLogger(__name__)


class SlaTimers:
    def __init__(self, reads: CaseReads, actions: CaseActions, policy: Policy, clock: Clock, *,
                 batch: int = 500, metrics: Metrics | None = None) -> None:
        self._reads = reads
        self._actions = actions
        self._policy = policy
        self._clock = clock
        self._batch = batch
        self._fired = (metrics or Metrics()).sla_timers_fired

    async def sweep(self) -> int:
        """Fire every step due now; return how many events were appended."""
        sla = self._policy.sla
        if sla is None:
            return 0
        fired = 0
        while True:
            now = self._clock.now()
            docs = await self._reads.due(now, self._batch)
            progressed = 0
            for doc in docs:
                events = due_timer_events(doc, now, sla)
                if events and await self._actions.system(doc, events):
                    fired += len(events)
                    self._fired.inc(len(events))
                    progressed += 1
            # Firing a step can make the next one due at once (a hub that was down for hours): go again
            # until a round changes nothing.
            if not progressed:
                return fired

    async def run(self, every_s: float) -> None:
        await every(every_s, self.sweep, failure="SLA sweep failed; retrying")
