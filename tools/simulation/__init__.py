"""The live simulator: realistic mixed traffic on every channel, and a crew of staff who work the cases so that
the closed loop moves on the consoles (`cityloop simulate`, and `cityloop demo` in-process).

- `HotlineSource`  12345 tickets (about 55 % of events): Chinese texts per category, callers with mobile numbers,
                   GCJ-02 points from the app channels, WGS84 from the call-taker's map, ~10 % address only.
- `Open311Source`  GeoReport v2 requests (10 %), form-encoded, with each service's required attributes.
- `DeviceFleet`    IoT sensors (20 %): registered at start, each cycling idle → alarm episode → clear → idle,
                   over MQTT when a broker is given, else over the HTTP twin.
- `GridPatrol`     grid workers' patrol reports with 1–2 generated photos (15 %).
- `FollowUpCrew`   operators, county dispatchers, township handlers and grid workers acting on the cases after a
                   realistic delay (scaled by `speed`): dispatch or reject triage, accept or return, review
                   returns, progress, resolve, call back (回访) or verify on site (核查).
- `Simulator`      the driver: Poisson arrivals at `rate`, bounded concurrency, back-off, the summary.

Everything goes through the hub's public API (the crew included); the database is used only to create the
simulator's own keys and staff logins (tools.demo.SimulatorAccounts).

Modules: config (settings), accounts (keys and staff logins), http (bounded, backing-off client), report
(counters), places (where problems happen), content (texts, names, photos), channels (the four sources),
crew (the staff), driver (the Simulator).
"""

from tools.simulation.accounts import Accounts, KeyOnly
from tools.simulation.channels import Open311Source, TicketFactory
from tools.simulation.config import SimConfig
from tools.simulation.driver import Simulator, run_simulation
from tools.simulation.http import Http
from tools.simulation.places import Spot
from tools.simulation.report import Summary

__all__ = ["Accounts", "Http", "KeyOnly", "Open311Source", "SimConfig", "Simulator", "Spot", "Summary", "TicketFactory",
           "run_simulation"]
