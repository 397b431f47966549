"""The `cityloop` subcommands that are tools, not the hub: `demo`, `simulate`, `bench`, `eval-intake`,
`eval-warning`.

hub/cli.py finds them through the `cityloop.commands` entry points (pyproject.toml) and never imports this
package. Each function here takes the subparsers, adds its parser and sets `run(settings, args) -> exit code`.
This module is loaded on every `cityloop` call, so it imports nothing heavy: the work is imported when it runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.infra.settings import Settings

Subparsers = Any  # argparse's _SubParsersAction, which is private


def demo(sub: Subparsers) -> None:
    parser = sub.add_parser("demo", help="serve with demo data, logins and a live simulator")
    parser.add_argument("--no-simulate", action="store_true", help="no simulated traffic")
    parser.add_argument("--history-days", type=int, default=28, metavar="N",
                        help="import N days of generated background history at start when the database has none "
                             "(0: none)")
    parser.set_defaults(run=run_demo)


def simulate(sub: Subparsers) -> None:
    sim = sub.add_parser("simulate", help="realistic mixed traffic (hotline, Open311, IoT, grid) and staff working "
                                          "the cases, against a running hub")
    sim.add_argument("--rate", type=float, default=5.0, help="events per second, all channels together")
    sim.add_argument("--duration", type=float, default=60.0, help="seconds")
    sim.add_argument("--url", default=None, help="the hub (default: http://CITYLOOP_HOST:CITYLOOP_PORT)")
    sim.add_argument("--mqtt-url", default=None, help="IoT readings over this broker (default: MQTT_URL; "
                                                      "unset: over HTTP)")
    sim.add_argument("--speed", type=float, default=60.0,
                     help="how many times faster than real staff the crew works (60: a minute a second)")
    sim.add_argument("--no-crew", action="store_true", help="traffic only: nobody works the cases")
    sim.add_argument("--callback-url", default=None, help="put this status-callback URL on ~30%% of tickets (its "
                                                          "origin is registered on the simulator's hotline key)")
    sim.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable mix")
    sim.add_argument("--surge-every", type=float, default=None, metavar="S",
                     help="a scripted surge every S seconds (the first after min(90, S)): 15 hotline tickets of one "
                          "topic in one township within 2 minutes, which early warning should alert on")
    sim.add_argument("--key", default=None, help="hotline-only mode without database access: a hotline API key "
                                                 "(or CITYLOOP_SIMULATOR_KEY)")
    sim.set_defaults(run=run_simulate)


def bench(sub: Subparsers) -> None:
    parser = sub.add_parser("bench", help="the benchmark suite: the performance table, with ratios against "
                                          "baselines measured in the same run")
    parser.add_argument("--quick", action="store_true", help="scaled-down runs (a few minutes), for a smoke test")
    parser.add_argument("--only", metavar="NAME[,NAME]", help="only these scenarios: store, ingest, workers, batch, "
                                                             "consoles, memory, overload, rebuild, startup, routing")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="hub processes per `cityloop serve` (passed on as `serve --workers N`)")
    parser.set_defaults(run=run_bench)


def eval_intake(sub: Subparsers) -> None:
    parser = sub.add_parser("eval-intake", help="how well intake understands tickets: accuracy, triage and "
                                                "wrong rates, µs per ticket, on the labelled set's test part")
    parser.add_argument("--split", default="test", choices=("test", "dev"),
                        help="which part to measure (dev: by cross-validation; test: the burned test part, now "
                             "validation)")
    parser.add_argument("--file", default=None, help="the labelled CSV (default tests/fixtures/tickets_labelled.csv); "
                                                     "a file without a split column is measured whole")
    parser.add_argument("--verbose", action="store_true",
                        help="list the kinds of mistake on clear texts (expected → read as) and the tickets "
                             "dispatched under a wrong category")
    parser.add_argument("--by-writer", default=None, metavar="THRESHOLDS", type=thresholds_list,
                        help="leave one writer out: each writer's training texts read by a model trained on the "
                             "others, at each comma-separated threshold (e.g. 0.8,0.85,0.9)")
    parser.set_defaults(run=run_eval_intake)


def generate_history(sub: Subparsers) -> None:
    parser = sub.add_parser("generate-history", help="N days of realistic background 12345 tickets with outcomes, "
                                                     "as JSON Lines for `cityloop import tickets`")
    history_arguments(parser)
    parser.set_defaults(run=run_generate_history)


def history_arguments(parser: argparse.ArgumentParser) -> None:
    from pathlib import Path

    parser.add_argument("--days", type=int, default=28, help="how many days of history, ending last midnight")
    parser.add_argument("--per-day", type=float, default=300.0, help="tickets on an ordinary weekday")
    parser.add_argument("--out", type=Path, required=True, help="the JSON Lines file to write")
    parser.add_argument("--seed", type=int, default=1, help="the same seed gives the same file")


def run_generate_history(settings: Settings, args: argparse.Namespace) -> int:
    from tools.simulation.history import run

    return run(args)


def run_eval_intake(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from tools.eval_intake import LABELLED, main

    return main(args.split, Path(args.file) if args.file else LABELLED, verbose=args.verbose,
                by_writer=args.by_writer or [])


def thresholds_list(value: str) -> list[float]:
    """`--by-writer`'s comma-separated thresholds, each in (0, 1]."""
    try:
        found = [float(part) for part in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not comma-separated numbers: {value!r}") from None
    if not found or not all(0 < t <= 1 for t in found):
        raise argparse.ArgumentTypeError(f"each threshold must be in (0, 1]: {value!r}")
    return found


def eval_warning(sub: Subparsers) -> None:
    parser = sub.add_parser("eval-warning", help="the early-warning detector on simulated traffic: false alarms per "
                                                 "week, sensitivity and delay on injected surges, µs per report")
    parser.add_argument("--per-day", default="3,30,300", metavar="N[,N]",
                        help="background reports a day in the city, one run each (default 3,30,300)")
    parser.add_argument("--weeks", type=int, default=52, help="simulated weeks of background (default 52)")
    parser.add_argument("--trials", type=int, default=100, help="injected surges per size (default 100)")
    parser.add_argument("--seed", type=int, default=2026, help="the simulation's seed (deterministic)")
    parser.set_defaults(run=run_eval_warning)


def run_eval_warning(settings: Settings, args: argparse.Namespace) -> int:
    from tools.eval_warning import main

    return main([float(n) for n in args.per_day.split(",") if n], args.weeks, args.trials, args.seed)


def run_demo(settings: Settings, args: argparse.Namespace) -> int:
    from tools.demo import serve_demo

    return serve_demo(settings, simulate=not args.no_simulate, history_days=args.history_days)


def run_simulate(settings: Settings, args: argparse.Namespace) -> int:
    """Mixed traffic against a running hub. The simulator creates its own keys and staff logins in the hub's
    database (DATABASE_URL, else the embedded one under CITYLOOP_DATA_DIR, as the other commands do); with
    --key it needs no database and sends hotline tickets only."""
    import asyncio
    import os
    import signal

    import asyncpg

    from hub.cli import run_with_database
    from tools.demo import SimulatorAccounts
    from tools.simulation import Accounts, KeyOnly, SimConfig, Simulator, Summary

    config = SimConfig(rate=args.rate, duration=args.duration, mqtt_url=args.mqtt_url or settings.mqtt_url,
                       speed=args.speed, crew=not args.no_crew, callback_url=args.callback_url, seed=args.seed,
                       surge_every_s=args.surge_every)
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    base = args.url or f"http://{host}:{settings.port}"

    async def simulate(accounts: Accounts) -> Summary:
        simulator = Simulator(base, accounts, config)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, simulator.stop)  # Ctrl-C ends the run early, with its summary
        try:
            return await simulator.run()
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    async def with_database(pool: asyncpg.Pool) -> Summary:
        from connectors.callback_origins import origin_of

        origins = [origin_of(config.callback_url)] if config.callback_url else []
        return await simulate(SimulatorAccounts(pool, callback_origins=origins))

    key = args.key or os.environ.get("CITYLOOP_SIMULATOR_KEY")
    if key:
        summary = asyncio.run(simulate(KeyOnly(key)))
    else:
        result = run_with_database(settings, with_database)
        assert isinstance(result, Summary)
        summary = result
    print(summary.render())
    return 0


def run_bench(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from hub.infra.embedded import provide
    from tools.bench.procs import serve_command
    from tools.bench.suite import chosen
    from tools.bench.suite import run_bench as bench_suite

    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))  # the bench prints its own lines
    chosen(args.only)  # an unknown scenario name is refused before any server starts
    serve_command(args.workers)  # and so is --workers N > 1 on a hub whose `serve` has no --workers yet
    with provide(settings.database_url, settings.redis_url, settings.data_dir) as urls:
        resolved = settings.model_copy(update={"database_url": urls.database_url, "redis_url": urls.redis_url,
                                               "mqtt_url": urls.mqtt_url})
        asyncio.run(bench_suite(resolved, quick=args.quick, only=args.only, workers=args.workers))
    return 0
