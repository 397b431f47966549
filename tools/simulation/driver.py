"""The driver: Poisson arrivals at `rate` across the channels, the crew, the summary."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable

import aiohttp

from tools.router import CountyRouter
from tools.simulation.accounts import Accounts, StaffRoom
from tools.simulation.channels import DeviceFleet, GridPatrol, HotlineSource, Open311Source, TicketFactory
from tools.simulation.config import OPERATOR, SimConfig
from tools.simulation.crew import FollowUpCrew, cancel_all
from tools.simulation.http import Http
from tools.simulation.places import CommunityPlaces, CountyPlaces, Places
from tools.simulation.report import Summary
from tools.simulation.surge import SurgeScript

log = logging.getLogger(__name__)


# ---- the driver -----------------------------------------------------------------------------------------


class Simulator:
    """Owns the HTTP session, the MQTT client, the crew and every in-flight event; `run()` cleans all up,
    also when it is cancelled (the demo's shutdown)."""

    def __init__(self, base_url: str, accounts: Accounts, config: SimConfig) -> None:
        self.base_url = base_url.rstrip("/")
        self.accounts = accounts
        self.config = config
        self.summary = Summary(rate=config.rate)
        self.rng = random.Random(config.seed)
        self.run_id = secrets.token_hex(3).upper()
        self.hotline: HotlineSource | None = None
        self.fleet: DeviceFleet | None = None
        self.surges: SurgeScript | None = None
        self._sources: dict[str, Callable[[], Awaitable[None]]] = {}
        self._events: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()  # set once the channels are set up and traffic starts (or the set-up failed)

    def stop(self) -> None:
        """End the run early (Ctrl-C in `cityloop simulate`): no new events; `run()` returns its summary."""
        self._stop.set()

    async def run(self) -> Summary:
        config = self.config
        timeout = aiohttp.ClientTimeout(total=20)
        connector = aiohttp.TCPConnector(limit=config.max_in_flight)
        crew_task: asyncio.Task[None] | None = None
        reporter: asyncio.Task[None] | None = None
        surges: asyncio.Task[None] | None = None
        async with aiohttp.ClientSession(self.base_url, timeout=timeout, connector=connector) as session:
            http = Http(session, self.summary, config.max_in_flight)
            staff = StaffRoom(http, self.accounts)
            try:
                try:
                    crew = await self._set_up(http, staff)
                finally:
                    self.ready.set()
                if crew is not None:
                    crew_task = asyncio.create_task(crew.run())
                if config.report_every_s:
                    reporter = asyncio.create_task(self._report(config.report_every_s))
                if self.surges is not None and config.surge_every_s:
                    surges = asyncio.create_task(self._surges(self.surges, config.surge_every_s,
                                                              min(config.surge_first_s, config.surge_every_s)))
                await self._drive()
                await self._drain(10.0)
            finally:
                for task in (crew_task, reporter, surges):
                    if task is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                await cancel_all(self._events)
                if self.fleet is not None:
                    await self.fleet.close()
                self.summary.elapsed = time.monotonic() - self.summary.started
        return self.summary

    async def _set_up(self, http: Http, staff: StaffRoom) -> FollowUpCrew | None:
        config = self.config
        began = time.monotonic()
        keys: dict[str, str] = {}
        for role in ("hotline", "open311", "iot"):
            try:
                keys[role] = await self.accounts.api_key(role)
            except LookupError as exc:
                log.info("simulator: %s", exc)
        operator = await staff.token(*OPERATOR)
        places: Places | None = None
        if operator is not None:
            places = await CommunityPlaces.load(http, operator)
            if places is None:
                log.warning("simulator: the community layer could not be read; using county centres")
        if places is None:
            places = await asyncio.to_thread(lambda: CountyPlaces(CountyRouter.nanning()))
        if "hotline" in keys:
            factory = TicketFactory(places=places, seed=self.rng.randrange(2**32), callback_url=config.callback_url,
                                    run_id=self.run_id)
            self.hotline = HotlineSource(http, keys["hotline"], factory)
            self._sources["hotline"] = self.hotline.emit
        if "open311" in keys:
            self._sources["open311"] = Open311Source(http, keys["open311"], places, self.rng).emit
        if "iot" in keys and operator is not None:
            weights = dict(config.mix)
            share = weights.get("iot", 0.0) / (sum(weights.values()) or 1.0)
            self.fleet = DeviceFleet(http, keys["iot"], self.summary, self.rng, config.mqtt_url, config.rate * share)
            await self.fleet.start(places, operator, config.fleet_size)
            if self.fleet.devices:
                self._sources["iot"] = self.fleet.step
        if operator is not None:
            self._sources["grid"] = GridPatrol(http, staff, places, self.rng, self.run_id).emit
        if self.hotline is not None and config.surge_every_s:
            self.surges = SurgeScript(self.hotline, places, random.Random(self.rng.randrange(2**32)),
                                      size=config.surge_size, spread_s=config.surge_spread_s, fleet=self.fleet,
                                      staff=staff)
        if not self._sources:
            raise RuntimeError("the simulator has no credentials for any channel")
        log.info("simulator: %s at %g events/s; IoT over %s; %d devices; ready in %.1f s", ", ".join(self._sources),
                 config.rate, self.summary.transport, len(self.fleet.devices) if self.fleet else 0,
                 time.monotonic() - began)
        if not config.crew or operator is None:
            return None
        return FollowUpCrew(http, staff, self.summary, self.rng, speed=config.speed, poll_s=config.poll_s)

    async def _drive(self) -> None:
        """Poisson arrivals: exponential gaps at `rate`, each event one channel drawn by the mix. At most
        2 × max_in_flight events are pending: a slow hub slows the simulator instead of piling up tasks."""
        config = self.config
        mix = [(name, weight) for name, weight in config.mix if name in self._sources and weight > 0]
        names, weights = [n for n, _ in mix], [w for _, w in mix]
        rate = max(config.rate, 1e-6)
        pending = asyncio.Semaphore(2 * config.max_in_flight)
        loop = asyncio.get_running_loop()
        deadline = None if config.duration is None else loop.time() + config.duration
        next_at = loop.time()
        while not self._stop.is_set() and (deadline is None or loop.time() < deadline):
            next_at += self.rng.expovariate(rate)
            if deadline is not None and next_at >= deadline:
                await self._pause(deadline - loop.time())
                break
            wait = next_at - loop.time()
            if wait > 0:
                await self._pause(wait)
            elif wait < -1.0:
                next_at = loop.time()  # fell behind (a slow hub): carry on at the rate, no catch-up burst
            if self._stop.is_set():
                break
            await pending.acquire()
            channel = self.rng.choices(names, weights=weights)[0]
            task = asyncio.create_task(self._event(channel))
            self._events.add(task)
            task.add_done_callback(self._events.discard)
            task.add_done_callback(lambda _t: pending.release())

    async def _pause(self, seconds: float) -> None:
        """Sleep, unless stop() is called meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), max(seconds, 0.0))

    async def _event(self, channel: str) -> None:
        try:
            await self._sources[channel]()
        except asyncio.CancelledError:
            raise
        except Exception:  # never let one event's bug stop the run
            log.exception("simulator: a %s event failed", channel)
            self.summary.channel(channel).failed += 1
            self.summary.errors += 1

    async def _surges(self, script: SurgeScript, every: float, first: float) -> None:
        """A scripted surge every `every` seconds, the first after `first`, until the run ends."""
        loop = asyncio.get_running_loop()
        next_at = loop.time() + first
        while True:
            await self._pause(next_at - loop.time())
            if self._stop.is_set():
                return
            next_at += every
            try:
                await script.play(script.plan())
                self.summary.surges += 1
            except asyncio.CancelledError:
                raise
            except Exception:  # never let the script's bug stop the run
                log.exception("simulator: a scripted surge failed")
                self.summary.errors += 1

    async def _drain(self, timeout: float) -> None:
        if self._events:
            await asyncio.wait(set(self._events), timeout=timeout)

    async def _report(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            log.info(self.summary.one_line())


async def run_simulation(base_url: str, accounts: Accounts, config: SimConfig) -> Summary:
    """Run until `config.duration` passes (forever when None, until cancelled); the summary of the run."""
    return await Simulator(base_url, accounts, config).run()
