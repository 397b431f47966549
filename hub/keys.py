"""Typed application keys for the resources the composition root (hub.app) opens and closes."""

from __future__ import annotations

import weakref

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from dispatch.policy import Policy
from hub.identity.auth import Authenticator
from hub.infra.clock import Clock
from hub.infra.leader import Leadership
from hub.infra.metrics import Metrics
from hub.infra.settings import Settings
from hub.live.bus import WakeupBus
from hub.live.gateway import ConsoleGateway
from hub.live.sessions import SessionWatch
from hub.services.admission import Admission
from hub.services.alerts import Alerts
from hub.services.analysis import Analysis
from hub.services.boundaries import Boundaries
from hub.services.case_actions import CaseActions
from hub.services.directives import Directives
from hub.services.duty import DutyRoster
from hub.services.headline import Headline
from hub.services.incidents import Incidents
from hub.services.intake import IntakeService
from hub.services.iot.devices import DeviceRegistry
from hub.services.iot.mqtt import MqttSubscriber
from hub.services.iot.readings import IotService
from hub.services.kpis import Kpis
from hub.services.learned import LearnedCategories
from hub.services.locator import Locator
from hub.services.outbox import Outbox
from hub.services.photos import PhotoStore
from hub.services.quarantine import Quarantine
from hub.services.surge import SurgeWatch
from hub.services.timers import SlaTimers
from hub.store.committer import GroupCommitter
from hub.store.projection import CaseProjection
from hub.store.reads import CaseReads

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
# The group committer's own connections (hub.app): commits never wait behind reads for one.
COMMIT_POOL = web.AppKey("commit_pool", asyncpg.Pool)
# Where long reads (analysis, exports, KPI tables) go: DATABASE_REPLICA_URL's pool, else POOL itself.
READ_POOL = web.AppKey("read_pool", asyncpg.Pool)
# The MQTT subscriber (when MQTT_URL is set): run by the leader, or by every process with a shared group.
MQTT = web.AppKey("mqtt", MqttSubscriber)
REDIS = web.AppKey("redis", aioredis.Redis)
BOUNDARIES = web.AppKey("boundaries", Boundaries)
COMMITTER = web.AppKey("committer", GroupCommitter)
ADMISSION = web.AppKey("admission", Admission)
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
READS = web.AppKey("reads", CaseReads)
KPIS = web.AppKey("kpis", Kpis)
ANALYSIS = web.AppKey("analysis", Analysis)  # 研判分析: grouped reads of the projections
# What dispatchers' choices taught: `app[LEARNED].lookup` is the `learned` callable of the understanding step.
LEARNED = web.AppKey("learned", LearnedCategories)
HEADLINE = web.AppKey("headline", Headline)
# The duty roster (值班): `app[DUTY].duty_officer(unit, at)` is who to phone in a unit now.
DUTY = web.AppKey("duty", DutyRoster)
METRICS = web.AppKey("metrics", Metrics)
DEVICES = web.AppKey("devices", DeviceRegistry)
IOT = web.AppKey("iot", IotService)
OUTBOX = web.AppKey("outbox", Outbox)
PHOTO_STORE = web.AppKey("photo_store", PhotoStore)
QUARANTINE = web.AppKey("quarantine", Quarantine)
SESSIONS = web.AppKey("sessions", SessionWatch)
LEADERSHIP = web.AppKey("leadership", Leadership)
# Early warning: the alerts (reads and actions) and the leader's detector loop (hub.services.surge).
ALERTS = web.AppKey("alerts", Alerts)
SURGE = web.AppKey("surge", SurgeWatch)
# Directives (政令一键智达): issuing, answering, reminding, and the leader's reminder/overdue timer.
DIRECTIVES = web.AppKey("directives", Directives)
# Emergency incidents (平急转换): declarations, links, reviews, and the active ones intake links to.
INCIDENTS = web.AppKey("incidents", Incidents)
SOCKETS = web.AppKey("sockets", weakref.WeakSet[web.WebSocketResponse])
