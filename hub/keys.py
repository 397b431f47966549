"""Typed application keys for the resources the composition root (hub.app) opens and closes."""

from __future__ import annotations

import weakref

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from dispatch.policy import Policy
from hub.auth import Authenticator
from hub.boundaries import Boundaries
from hub.bus import WakeupBus
from hub.case_actions import CaseActions
from hub.clock import Clock
from hub.committer import GroupCommitter
from hub.devices import DeviceRegistry
from hub.gateway import ConsoleGateway
from hub.intake import IntakeService
from hub.iot import IotService
from hub.kpis import KpiProjection
from hub.locator import Locator
from hub.metrics import Metrics
from hub.outbox import Outbox
from hub.photos import PhotoStore
from hub.projection import CaseProjection
from hub.quarantine import Quarantine
from hub.sessions import SessionWatch
from hub.settings import Settings
from hub.timers import SlaTimers

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
REDIS = web.AppKey("redis", aioredis.Redis)
BOUNDARIES = web.AppKey("boundaries", Boundaries)
COMMITTER = web.AppKey("committer", GroupCommitter)
BUS = web.AppKey("bus", WakeupBus)
GATEWAY = web.AppKey("gateway", ConsoleGateway)
AUTH = web.AppKey("auth", Authenticator)
INTAKE = web.AppKey("intake", IntakeService)
LOCATOR = web.AppKey("locator", Locator)
CLOCK = web.AppKey("clock", Clock)
POLICY = web.AppKey("policy", Policy)
ACTIONS = web.AppKey("actions", CaseActions)
TIMERS = web.AppKey("timers", SlaTimers)
PROJECTION = web.AppKey("projection", CaseProjection)
KPIS = web.AppKey("kpis", KpiProjection)
METRICS = web.AppKey("metrics", Metrics)
DEVICES = web.AppKey("devices", DeviceRegistry)
IOT = web.AppKey("iot", IotService)
OUTBOX = web.AppKey("outbox", Outbox)
PHOTO_STORE = web.AppKey("photo_store", PhotoStore)
QUARANTINE = web.AppKey("quarantine", Quarantine)
SESSIONS = web.AppKey("sessions", SessionWatch)
SOCKETS = web.AppKey("sockets", weakref.WeakSet[web.WebSocketResponse])
