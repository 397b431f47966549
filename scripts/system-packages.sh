#!/usr/bin/env bash
# Installs the system programs the hub and its tests run, when they are missing (Debian/Ubuntu):
#   mosquitto — the MQTT broker the demo and the IoT tests start on a free port;
#   mosquitto-clients — mosquitto_pub, with which the tests check that the broker refuses anonymous clients;
#   node/npm  — installs the consoles' libraries from the npm registry (frontend/package-lock.json);
#   chromium  — the real browser the console tests drive (Playwright, never `playwright install`);
#   fonts-wqy-microhei — a CJK font, so the consoles' screenshots show Chinese rather than boxes;
#   wrk       — the HTTP load generator of `cityloop bench`: in C, cheap enough to share the hub's cores;
#   prometheus — for its promtool: the tests check deploy/prometheus (config, alert rules and their unit tests)
#               and lint the hub's /metrics with it (the package's own server is never started by them).
# Python packages come from pyproject.toml; this covers what PyPI does not ship.
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
have mosquitto || missing+=(mosquitto)
have mosquitto_pub || missing+=(mosquitto-clients)
have npm || missing+=(nodejs npm)
have chromium || missing+=(chromium)
have wrk || missing+=(wrk)
have promtool || missing+=(prometheus)
fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-wqy-microhei)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "installing system packages: ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "no apt-get here: install ${missing[*]} with your package manager" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian package starts a broker on 1883 as a service; ours are started per run on free ports.
