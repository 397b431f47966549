"""A live simulator of 12345 hotline traffic, posting over HTTP like the real hotline system would."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp

from geo.crs import Crs, from_wgs84
from geo.router import CountyRouter

# (category, typical phrasing): common 12345 urban-management requests.
PROBLEMS = (
    ("streetlight", "路灯不亮，晚上很黑，请尽快维修"),
    ("exposed_rubbish", "路边垃圾堆积多天没人清理，气味很大"),
    ("road_damage", "路面坑洼破损，电动车经过很危险"),
    ("illegal_parking", "车辆长期占用人行道停放"),
    ("noise", "夜间施工噪音扰民"),
    ("water_outage", "小区停水，没有提前通知"),
    ("manhole_cover", "井盖缺失，存在安全隐患"),
    ("drain_blocked", "下水道堵塞，雨后积水严重"),
)
ADDRESS_ONLY = ("南宁市青秀区中山街道某小区门口", "兴宁区朝阳路附近", "西乡塘区北湖路口")


class TicketFactory:
    def __init__(self, router: CountyRouter, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._router = router
        self._bounds = router.bounds

    def ticket(self) -> dict[str, Any]:
        category, content = self._rng.choice(PROBLEMS)
        ticket: dict[str, Any] = {
            "ticket_no": f"SIM{datetime.now(UTC):%Y%m%d}{uuid.uuid4().hex[:12].upper()}",
            "type": self._rng.choice(("complaint", "help", "report")),
            "category": category,
            "content": content,
            "reported_at": datetime.now(UTC).isoformat(),
            "reporter": {"name": self._rng.choice("张王李赵刘陈黄") + "先生",
                         "phone": f"138{self._rng.randrange(10**8):08d}"},
        }
        if self._rng.random() < 0.1:
            ticket["address"] = self._rng.choice(ADDRESS_ONLY)
            return ticket
        lng, lat = self._point()
        crs = self._rng.choice((Crs.WGS84, Crs.GCJ02, Crs.GCJ02, Crs.BD09))  # most apps send GCJ-02
        x, y = from_wgs84(lng, lat, crs)
        ticket["location"] = {"lng": round(x, 6), "lat": round(y, 6), "crs": crs.value}
        return ticket

    def _point(self) -> tuple[float, float]:
        minx, miny, maxx, maxy = self._bounds
        while True:
            lng, lat = self._rng.uniform(minx, maxx), self._rng.uniform(miny, maxy)
            if self._router.locate(lng, lat).inside:
                return lng, lat


async def run_simulation(base_url: str, key: str, *, rate: float, duration: float | None) -> None:
    """Post `rate` tickets/s until `duration` seconds pass (forever when None)."""
    factory = TicketFactory(CountyRouter.nanning())
    deadline = None if duration is None else time.monotonic() + duration
    interval = 1.0 / rate
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(base_url, headers={"X-API-Key": key}, timeout=timeout) as http:
        while deadline is None or time.monotonic() < deadline:
            started = time.monotonic()
            try:
                async with http.post("/api/v1/hotline/tickets", json=factory.ticket()) as resp:
                    await resp.read()
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(1.0)
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
