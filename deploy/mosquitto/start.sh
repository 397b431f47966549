#!/bin/sh
# The broker's start in docker-compose.yml: install the accounts derived from the device registry, keep them
# current, then become Mosquitto.
#
# The hub container writes `passwd` and `acl` into the shared `mqtt-accounts` volume whenever `cityloop devices
# add|rotate|broker-config` runs (CITYLOOP_MQTT_BROKER_DIR); this script copies them into the broker's tmpfs,
# readable by the broker alone, adds the hub's own account from .env (MQTT_HUB_USERNAME/MQTT_HUB_PASSWORD), and
# sends the broker a SIGHUP when they change. Before the first `cityloop devices` run there is no such file: the
# broker then knows the hub's account alone (the same ACL the registry gives the hub).
# The paths can be moved for a test (tests/integration/test_broker_start_script.py); the stack uses the defaults.
set -eu
REGISTRY=${MQTT_ACCOUNTS_DIR:-/mosquitto/registry}
AUTH=${MQTT_AUTH_DIR:-/mosquitto/auth}
DATA=${MQTT_DATA_DIR:-/mosquitto/data}
CONF=${MQTT_CONF:-/mosquitto/config/mosquitto.conf}
umask 077

install_accounts() {
    if [ -s "$REGISTRY/passwd" ]; then cp "$REGISTRY/passwd" "$AUTH/passwd.new"; else : >"$AUTH/passwd.new"; fi
    mosquitto_passwd -b "$AUTH/passwd.new" "$MQTT_HUB_USERNAME" "$MQTT_HUB_PASSWORD"
    if [ -s "$REGISTRY/acl" ]; then
        cp "$REGISTRY/acl" "$AUTH/acl.new"
    else
        printf 'user %s\ntopic read cityloop/iot/+/alarm\ntopic read $SYS/#\n' "$MQTT_HUB_USERNAME" >"$AUTH/acl.new"
    fi
    chown mosquitto:mosquitto "$AUTH/passwd.new" "$AUTH/acl.new"
    mv "$AUTH/passwd.new" "$AUTH/passwd"
    mv "$AUTH/acl.new" "$AUTH/acl"
}

fingerprint() {
    cat "$REGISTRY/passwd" "$REGISTRY/acl" 2>/dev/null | cksum
}

install_accounts
chown -R mosquitto:mosquitto "$DATA"
seen=$(fingerprint)
# `$$` is this shell's process, which `exec` below turns into Mosquitto: SIGHUP makes it re-read both files and
# disconnect every client whose password or rights no longer hold. The loop ends with the broker.
(
    while sleep "${MQTT_RELOAD_CHECK_S:-5}" && kill -0 $$ 2>/dev/null; do
        now=$(fingerprint)
        if [ "$now" != "$seen" ] && install_accounts; then
            kill -HUP $$
            seen=$now
        fi
    done
) &
exec mosquitto -c "$CONF"
