"""The hub's Prometheus metrics (GET /metrics): every family of one hub process in its own registry.

One `CollectorRegistry` per hub, never prometheus_client's global default: a test process starts many hubs,
and each must count only its own requests. Instrumented code holds label children (`.labels()` resolved
once and cached here), so the hot path is one `observe` or `inc` — no label dicts built per request.
Figures that are state rather than events (queue depth, consoles, pool use) are read when scraped.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from functools import partial
from typing import Final

import asyncpg
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder

# Request latency: 1 ms (a cached read) to 10 s (a request that waited out an append timeout's share).
_LATENCY_S: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Group commits carry 1 item under light load and up to APPEND_BATCH_MAX (1,000 by default) under a surge.
_BATCH_SIZES: Final = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
# A commit is a few milliseconds; a stalled database shows as seconds.
_COMMIT_S: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Commit to console: the coalescing window (CITYLOOP_CONSOLE_COALESCE_MS) plus one read of the store.
_FANOUT_S: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Ingest channels and their outcomes: the label values, fixed (bounded cardinality).
CHANNELS: Final = ("hotline", "open311", "grid", "iot")
INGEST_OUTCOMES: Final = ("accepted", "duplicate")
# A callback delivery attempt: delivered (2xx), failed (will be retried), dead (given up after the last
# attempt), refused (the destination is not allowed: never sent).
CALLBACK_OUTCOMES: Final = ("delivered", "failed", "dead", "refused")
# What a hub needs to be ready (/readyz).
DEPENDENCIES: Final = ("postgres", "redis")
# Requests that matched no route share one label value: raw paths never become labels.
UNMATCHED: Final = "unmatched"


class Metrics:
    """The families of one hub process. Counters and histograms are fed by the code that does the work;
    `track_*` attach the state read at scrape time."""

    def __init__(self) -> None:
        registry = self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=registry)  # process_cpu_seconds_total, process_resident_memory_bytes, fds
        PlatformCollector(registry=registry)  # python_info: the interpreter's version
        ns = "cityloop"
        self._requests = Histogram(
            "http_request_duration_seconds", "HTTP requests by route (operationId, or the route's path "
            "template when it has none) and status: from the request's dispatch to its response being "
            "ready (sending it not included)",
            ["route", "status"], namespace=ns, registry=registry, buckets=_LATENCY_S)
        self._request_children: dict[tuple[str, int], Histogram] = {}
        ingest = Counter("ingest", "Reports taken in by channel; duplicate: a retry with a known idempotency "
                         "key (ticket number, request id, device sequence) that wrote nothing",
                         ["channel", "outcome"], namespace=ns, registry=registry)
        self.ingest = {(c, o): ingest.labels(c, o) for c in CHANNELS for o in INGEST_OUTCOMES}
        self.commit_batch_size = Histogram(
            "commit_batch_size", "Appends carried by one group commit (one transaction)",
            namespace=ns, registry=registry, buckets=_BATCH_SIZES)
        self.commit_seconds = Histogram(
            "commit_duration_seconds", "Time of one group commit: the transaction that appends a batch and "
            "updates the projections", namespace=ns, registry=registry, buckets=_COMMIT_S)
        self.commit_failures = Counter("commit_failures", "Group commits that failed (the batch is then "
                                       "retried item by item, or refused when the database is unreachable)",
                                       namespace=ns, registry=registry)
        self._append_queue = Gauge("append_queue_depth", "Appends waiting for the group committer; at "
                                   "cityloop_append_queue_capacity new reports are refused with 503",
                                   namespace=ns, registry=registry)
        self._append_capacity = Gauge("append_queue_capacity", "Size of the append queue "
                                      "(CITYLOOP_APPEND_QUEUE_SIZE)", namespace=ns, registry=registry)
        self._consoles = Gauge("console_clients", "Consoles subscribed to the live feed of this process",
                               namespace=ns, registry=registry)
        self._position = Gauge("console_position", "Last event position the console feed has fanned out",
                               namespace=ns, registry=registry)
        self.consoles_dropped = Counter("consoles_dropped", "Consoles disconnected because their send queue was "
                                        "full (a slow network or browser; they reconnect and resume)",
                                        namespace=ns, registry=registry)
        self.fanout_seconds = Histogram(
            "fanout_latency_seconds", "From a commit's wake-up (this process's commit, or another's through Redis) "
            "to its frames handed to every subscribed console's send queue", namespace=ns, registry=registry,
            buckets=_FANOUT_S)
        deliveries = Counter("callback_deliveries", "Callback delivery attempts by outcome: delivered (2xx), "
                             "failed (retried later), dead (last attempt failed), refused (destination not "
                             "allowed; never sent)", ["outcome"], namespace=ns, registry=registry)
        self.callbacks = {outcome: deliveries.labels(outcome) for outcome in CALLBACK_OUTCOMES}
        self.callbacks_pending = Gauge("callbacks_pending", "Callbacks waiting for delivery (the deployment's "
                                       "outbox)", namespace=ns, registry=registry)
        self.callbacks_dead = Gauge("callbacks_dead", "Callbacks given up on, waiting in quarantine for an admin "
                                    "(the deployment's outbox)", namespace=ns, registry=registry)
        self.mqtt_received = Counter("mqtt_messages_received", "MQTT messages taken from the broker",
                                     namespace=ns, registry=registry)
        self.mqtt_quarantined = Counter("mqtt_messages_quarantined", "MQTT messages that could not be processed "
                                        "(malformed, unknown device) and were quarantined",
                                        namespace=ns, registry=registry)
        self.sla_timers_fired = Counter("sla_timers_fired", "SLA timer events appended (reminders, overdue, "
                                        "escalations) by this process's sweeps", namespace=ns, registry=registry)
        # Pools: shared (the primary's), commit (the group committer's), replica (DATABASE_REPLICA_URL, if set).
        pool_size = Gauge("db_pool_size", "PostgreSQL connections open in the pool", ["pool"],
                          namespace=ns, registry=registry)
        pool_in_use = Gauge("db_pool_in_use", "PostgreSQL connections of the pool lent out", ["pool"],
                            namespace=ns, registry=registry)
        pool_max = Gauge("db_pool_max", "The pool's maximum size", ["pool"], namespace=ns, registry=registry)
        self._pools = pool_size, pool_in_use, pool_max
        up = Gauge("dependency_up", "1 when the dependency answered this scrape's readiness check (as /readyz), "
                   "else 0", ["dependency"], namespace=ns, registry=registry)
        self.dependency_up = {name: up.labels(name) for name in DEPENDENCIES}
        self._leader = Gauge("leader", "1 when this process leads the once-per-deployment loops (timers, outbox, "
                             "MQTT), else 0", namespace=ns, registry=registry)
        self._readers: list[tuple[Gauge, Callable[[], float]]] = []  # state gauges, read at each scrape
        self._read(Gauge("gc_frozen_objects", "Objects frozen after start-up (gc.freeze, hub.infra.heap), never "
                         "scanned by a collection again", namespace=ns, registry=registry), gc.get_freeze_count)
        for gen in range(3):
            # A fast-growing gen2 count costs CPU. (Names kept from the hand-written text of earlier releases.)
            self._read(Gauge(f"gc_collections_gen{gen}", f"Garbage collections of generation {gen} since start",
                             namespace=ns, registry=registry), partial(_collections, gen))

    def ingested(self, channel: str, *, duplicate: bool) -> None:
        """One report taken in on `channel` (one of CHANNELS)."""
        self.ingest[channel, "duplicate" if duplicate else "accepted"].inc()

    def request(self, route: str, status: int) -> Histogram:
        """The latency child of (route, status), made once."""
        child = self._request_children.get((route, status))
        if child is None:
            child = self._request_children[route, status] = self._requests.labels(route, str(status))
        return child

    def track_append_queue(self, depth: Callable[[], int], capacity: int) -> None:
        self._read(self._append_queue, depth)
        self._append_capacity.set(capacity)

    def track_consoles(self, clients: Callable[[], int], position: Callable[[], int]) -> None:
        self._read(self._consoles, clients)
        self._read(self._position, position)

    def track_leader(self, leads: Callable[[], bool]) -> None:
        self._read(self._leader, lambda: int(leads()))

    def track_pool(self, name: str, pool: asyncpg.Pool) -> None:
        size, in_use, maximum = (gauge.labels(name) for gauge in self._pools)
        self._read(size, pool.get_size)
        self._read(in_use, lambda: pool.get_size() - pool.get_idle_size())
        maximum.set(pool.get_max_size())

    def _read(self, gauge: Gauge, reader: Callable[[], float]) -> None:
        self._readers.append((gauge, reader))

    def read_state(self) -> None:
        """Set the state gauges from what they track. In the event loop's thread, where that state changes:
        rendering (`exposition`) may then run in another thread without reading it mid-change."""
        for gauge, reader in self._readers:
            gauge.set(reader())

    def exposition(self, accept: str) -> tuple[bytes, str]:
        """The registry in the format the scraper asked for (OpenMetrics or Prometheus text), and its
        Content-Type. Thread-safe (prometheus_client locks each value), so it can run off the event loop."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type


def _collections(generation: int) -> int:
    return int(gc.get_stats()[generation]["collections"])
