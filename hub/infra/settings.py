"""Typed settings: one pydantic-settings model for the whole process.

The names of INTERFACES.md (`DATABASE_URL`, `REDIS_URL`, `MQTT_URL`) have no prefix; every other
setting is `CITYLOOP_<NAME>`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, IPvAnyNetwork, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from connectors.callback_origins import allowed, parse_origins
from hub.infra.redis_url import parse_sentinel_url
from hub.infra.running import default_run_dir

# The callback HMAC key the demo signs with: published in this repository, so anyone could forge a hub's
# callbacks with it. `cityloop demo` uses it; `cityloop serve` refuses to start with it (demo_secret_refusal).
DEMO_CALLBACK_SECRET = "cityloop-demo-callback-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYLOOP_", extra="ignore", frozen=True, populate_by_name=True)

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "CITYLOOP_DATABASE_URL")
    )
    # A read-only streaming replica of DATABASE_URL (`postgresql://…`, a hot standby): analysis (研判分析), its
    # exports and the KPI tables read from it when set; unset, they read from the primary. Nothing writes to it,
    # and the consoles' snapshots stay on the primary (deploy/README.md says why).
    database_replica_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_REPLICA_URL", "CITYLOOP_DATABASE_REPLICA_URL")
    )
    # `redis://…`, `unix://…`, or Redis behind Sentinel: `redis+sentinel://[:pw@]h1:26379,h2:26379/SERVICE[/DB]`
    # (hub.infra.redis_url).
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "CITYLOOP_REDIS_URL")
    )
    mqtt_url: str | None = Field(
        default=None, validation_alias=AliasChoices("MQTT_URL", "CITYLOOP_MQTT_URL")
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # A listener of /metrics alone, for Prometheus (unset: /metrics on the main port, from loopback only). It
    # answers anyone who reaches it, so its address is the access rule: loopback, or a private interface.
    # With `serve --workers N`, worker i listens on metrics_port + i: each process is its own scrape target.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    data_dir: Path = Path(".cityloop")
    # Where hubs with an embedded database note their data directory (hub.infra.running), so that a CLI command
    # run with another CITYLOOP_DATA_DIR refuses instead of starting a second database. One per user by default.
    run_dir: Path = Field(default_factory=default_run_dir)
    # Apply pending migrations when the hub starts (false when something else migrates first: a deploy step
    # running `cityloop migrate`, or the supervisor of `cityloop serve --workers N`).
    migrate_on_start: bool = True
    # Leadership of the loops a deployment runs once (SLA timers, outbox, MQTT): how often a follower asks
    # for it and the leader checks its hold. A leader that dies is replaced within about this long.
    leader_check_s: float = Field(default=2.0, gt=0)

    # Group commit: how many appends may wait for the committer before callers get 503, and how long a
    # caller waits for its commit before it is told 503 (the outcome is then unknown: a retry with the same
    # idempotency key gets the first answer).
    append_queue_size: int = Field(default=20_000, ge=1)
    append_batch_max: int = Field(default=1_000, ge=1)
    append_timeout_s: float = Field(default=2.0, gt=0)
    db_pool_size: int = Field(default=8, ge=2)
    # A stalled PostgreSQL (hung, not refusing) must cost seconds, not minutes: how long a caller waits for a
    # pooled connection, for a new connection to open, and for any one statement of this hub.
    db_acquire_timeout_s: float = Field(default=1.0, gt=0)
    db_connect_timeout_s: float = Field(default=2.0, gt=0)
    db_command_timeout_s: float = Field(default=10.0, gt=0)
    # Start-up waits for PostgreSQL to answer, retrying with backoff up to this long between attempts.
    db_start_retry_max_s: float = Field(default=10.0, gt=0)

    # Admission (hub.services.admission), counted in tickets (a batch of 100 takes 100) and decided before any
    # work: a request comes in only if the tickets in progress ahead of it, at the rate this hub has been
    # measured to finish them, leave it answered within the wait budget; otherwise 503 `overloaded` at once.
    # The budget is below the 0.5 s 2xx p99 the overload bench asks for: the wait is an average, and a request
    # also spends time before admission (reading, authentication) and in the tail of a commit.
    intake_wait_budget_s: float = Field(default=0.2, gt=0)
    # Whatever the measured rate, this many tickets may be in progress, and no more until a rate is measured
    # (a hub that measured a slow stretch still takes ordinary traffic, and so measures again; 100 is a batch
    # of 100 or 100 callers of single tickets); never more than the ceiling (1,000: a full batch, idle hub).
    intake_min_in_flight: int = Field(default=100, ge=1)
    intake_max_in_flight: int = Field(default=1_000, ge=1)
    # A ticket that finds the intake stage idle while another caller's ticket is unanswered waits this long for
    # the tickets right behind it (hub.services.intake.IntakeService._gather): fewer, larger commits at moderate
    # rates. 0: never wait.
    intake_gather_ms: float = Field(default=10.0, ge=0, le=100)
    # An intake request not answered within this is answered 503 (its work goes on and is recorded once).
    intake_timeout_s: float = Field(default=1.5, gt=0)
    # Retry-After (whole seconds) is drawn uniformly from these ranges, so that the clients refused together
    # do not all come back together; "unavailable" (the database is stalled or down) waits longer.
    retry_after_overloaded_s: tuple[int, int] = (1, 5)
    retry_after_unavailable_s: tuple[int, int] = (2, 10)

    # Console fan-out: events are gathered this long and sent as one shared frame.
    console_coalesce_ms: int = Field(default=25, ge=0)
    console_queue_frames: int = Field(default=256, ge=1)
    console_queue_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024)
    console_heartbeat_s: float = Field(default=15.0, gt=0)
    console_snapshot_limit: int = Field(default=2_000, ge=1)
    # The consoles' headline figures (GET /api/v1/console/headline) are counted for the whole city at most once
    # per this long and every scope is summed from that count: a thousand consoles cost one query per 2 s
    # (the console asks 2.5 s after live events, so that what it is given counts them).
    headline_cache_s: float = Field(default=2.0, ge=0)
    # A unit with fewer valid callbacks (有效回访) than this in a period is shown but not ranked (红黑榜).
    kpi_min_samples: int = Field(default=5, ge=1)
    # Without a Redis wake-up (Redis down, or a commit in another process) the store is polled this often.
    store_poll_s: float = Field(default=1.0, gt=0)

    # Routing: a point this far outside the city still routes to the nearest county, flagged.
    near_boundary_m: float = Field(default=200.0, ge=0)
    # How often each hub process looks for a newly activated boundary version.
    boundary_check_s: float = Field(default=10.0, gt=0)

    session_ttl_s: int = Field(default=12 * 3600, ge=60)
    # How often each hub checks that the sessions of its open consoles still exist, have not expired and
    # belong to an enabled user (a sign-out elsewhere reaches it sooner, over Redis).
    session_check_s: float = Field(default=1.0, gt=0)
    # Sign-in throttling: at most this many failures per account, and per client address, in the window;
    # further attempts get 429 with Retry-After, before any password is hashed.
    login_max_failures: int = Field(default=10, ge=1)
    login_max_failures_per_address: int = Field(default=30, ge=1)
    login_window_s: int = Field(default=15 * 60, ge=1)
    # Reverse proxies whose X-Forwarded-For is believed (addresses or networks, JSON list); none by default,
    # so the client address is the peer's.
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)

    # The dispatch policy (return limit, SLA limits and calendar, responsibility matrix, merge rules) as a
    # JSON file matching dispatch.policy.Policy; unset = the Nanning demo policy (hub/data), with a warning.
    policy_file: Path | None = None
    sla_sweep_s: float = Field(default=5.0, gt=0)

    # Hotline status callbacks (outbox): where to post when a ticket names no `callback_url`, the HMAC key,
    # and the retry ladder (exponential backoff with full jitter, then dead-letter).
    # Origins (scheme://host[:port]) every hotline key's callbacks may go to, besides each key's own
    # (`cityloop keys add --callback-origin`); comma-separated or a JSON list. The default URL below must be
    # under one of them: the hub refuses to start otherwise (connectors.callback_origins says why).
    callback_allowed_origins: Annotated[tuple[str, ...], NoDecode] = ()
    hotline_callback_url: str | None = None
    callback_secret: str = DEMO_CALLBACK_SECRET
    callback_timeout_s: float = Field(default=10.0, gt=0)
    callback_backoff_base_s: float = Field(default=2.0, gt=0)
    callback_backoff_max_s: float = Field(default=600.0, gt=0)
    callback_max_attempts: int = Field(default=8, ge=1)
    outbox_poll_s: float = Field(default=1.0, gt=0)
    outbox_coalesce_ms: float = Field(default=50.0, ge=0)  # one callback-writer round for the commits meanwhile
    # Early warning reads the new reports this long after a commit wakes it, one round for the commits meanwhile:
    # under load a round (and its checkpoint, a transaction of its own) per commit cost PostgreSQL as much as
    # the commits.
    warning_coalesce_ms: float = Field(default=200.0, ge=0)
    # An alert's growth (its count and reports) is recorded at most this often; its raise at once. During a surge
    # each round updated every growing alert: a read, a commit and a ~9 KB frame to each console watching, a few
    # times a second (hub.services.surge.UpdatePacing).
    warning_update_interval_s: float = Field(default=5.0, ge=0, le=300)

    # IoT over MQTT (off when MQTT_URL is unset): the persistent session's client id, and how long after a
    # device's last alarm a new alarm still joins the open case (debounce) rather than opening another.
    mqtt_client_id: str = "cityloop-hub"
    mqtt_topic: str = "cityloop/iot/+/alarm"
    mqtt_session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    # Several hubs consume the alarms (MQTT 5 shared subscription `$share/<group>/<topic>`): set, every hub process
    # subscribes — not only the leader — each with a client id of its own (CITYLOOP_MQTT_CLIENT_ID per hub;
    # `serve --workers N` appends `-w<index>`), and each device's readings are applied in `seq` order across
    # them (hub.services.iot.order). A reading that does not follow the last applied one waits for the ones
    # before it at most `mqtt_reorder_window_s` (the first reading ever seen of a device waits that long too).
    mqtt_shared_group: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    mqtt_reorder_window_s: float = Field(default=1.0, ge=0, le=60)
    # Where `cityloop devices add|rotate` rewrite the broker's password and ACL files at once (unset: only
    # `cityloop devices broker-config --out DIR` writes them); the broker still needs a SIGHUP to read them.
    mqtt_broker_dir: Path | None = None

    # Grid reports: photos are checked by content and limited in size and number.
    photo_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    photos_per_report: int = Field(default=6, ge=1)

    # Consoles: an optional map tile server (e.g. a government Tianditu proxy), `{z}/{x}/{y}` template.
    map_tile_url: str | None = None
    map_tile_attribution: str = ""

    # Open311 GeoReport v2.
    open311_jurisdiction_id: str = "nanning.gov.cn"
    open311_default_days: int = Field(default=90, ge=1)
    open311_max_requests: int = Field(default=1000, ge=1)
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, url: str | None) -> str | None:
        if url is not None:
            parse_sentinel_url(url)  # a malformed `redis+sentinel://` URL stops the hub here, saying what is wrong
        return url

    @field_validator("intake_gather_ms")
    @classmethod
    def _gather_within_budget(cls, value: float, info: ValidationInfo) -> float:
        # Admission lets a ticket in when it is expected to be answered within the wait budget; a gathering wait
        # of the same order would spend that budget before any work.
        budget = info.data.get("intake_wait_budget_s")
        if budget is not None and value / 1000 > budget / 4:
            raise ValueError(f"intake_gather_ms must be at most a quarter of intake_wait_budget_s "
                             f"({budget * 250:g} ms)")
        return value

    @field_validator("retry_after_overloaded_s", "retry_after_unavailable_s")
    @classmethod
    def _retry_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1 <= low <= high:
            raise ValueError("give [low, high] whole seconds with 1 <= low <= high")
        return value

    @field_validator("callback_allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                value = json.loads(value)
            else:
                value = [part for part in value.replace(",", " ").split() if part]
        return parse_origins(value)

    @field_validator("hotline_callback_url")
    @classmethod
    def _default_callback_is_allowed(cls, url: str | None, info: ValidationInfo) -> str | None:
        # A field validator (not a model one): its error shows this URL only, never the other settings.
        if url and not allowed(url, info.data.get("callback_allowed_origins", ())):
            raise ValueError("CITYLOOP_HOTLINE_CALLBACK_URL must be under one of CITYLOOP_CALLBACK_ALLOWED_ORIGINS "
                             "(add its scheme://host[:port] there)")
        return url


def demo_secret_refusal(settings: Settings) -> str | None:
    """Why a real deployment (`cityloop serve`) must not start with these settings, or None: receivers verify
    our callbacks with CITYLOOP_CALLBACK_SECRET, and the demo's is public."""
    if settings.callback_secret == DEMO_CALLBACK_SECRET:
        return ("CITYLOOP_CALLBACK_SECRET is the public demo secret: anyone could sign callbacks as this hub. "
                "Set CITYLOOP_CALLBACK_SECRET to a secret of your own (e.g. `openssl rand -hex 32`); "
                "`cityloop demo` runs with the demo secret")
    if len(settings.callback_secret) < 16:
        return "CITYLOOP_CALLBACK_SECRET is shorter than 16 characters: use e.g. `openssl rand -hex 32`"
    return None
