"""The MQTT broker's accounts, derived from the device registry (issue 19 item 2): Mosquitto's password file
and ACL file, written by `cityloop devices broker-config` (and after `devices add|rotate` when
CITYLOOP_MQTT_BROKER_DIR is set). Mosquitto re-reads both on SIGHUP and then disconnects every client whose
password or rights no longer hold.

Every device logs in as its device id and may publish only to its own topic; the hub's account (the user of
MQTT_URL) may only read the devices' topics — directly or through a shared subscription (`$share/GROUP/…`),
which Mosquitto checks against the topic after the group — plus `$SYS/#` for the broker's healthcheck.

The hashes are Mosquitto's own format (`mosquitto_passwd`'s default since 2.0): `$7$ITERATIONS$SALT$HASH`,
PBKDF2-HMAC-SHA512, a 12-byte salt and a 64-byte key, both base64. Only these hashes are stored (devices
table); a device's password exists in plain only in the one output of `devices add|rotate`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from connectors.iot import ALARM_TOPICS, alarm_topic

# Device passwords are 192 random bits, which no stretching makes stronger or weaker to guess; the broker pays
# the iterations at every CONNECT, so a fleet reconnecting after a broker restart must not cost minutes of CPU.
# (mosquitto_passwd itself uses 101.) The hub's own password is chosen by the operator: use a random one too.
ITERATIONS = 1000
_SALT_BYTES = 12


def new_password() -> str:
    """A device's password: URL-safe, so it can go into a device's MQTT URL as it is."""
    return secrets.token_urlsafe(24)


def mosquitto_hash(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


def verify(password: str, hashed: str) -> bool:
    """What Mosquitto checks at CONNECT (for `$7$` lines)."""
    kind, iterations, salt, key = (hashed.split("$") + ["", "", "", ""])[1:5]
    if kind != "7" or not iterations.isdigit():
        return False
    again = mosquitto_hash(password, salt=base64.b64decode(salt), iterations=int(iterations))
    return hmac.compare_digest(again.rsplit("$", 1)[1], key)


def check_username(username: str) -> str:
    """A name Mosquitto's files can hold: the password file splits at ':', both files at line ends, and an
    ACL pattern must not be widened by a wildcard."""
    if not username or username != username.strip() or any(c in username for c in ":\n\r\0+#/"):
        raise ValueError(f"{username!r} cannot be an MQTT username (no ':', '+', '#', '/', line breaks, or "
                         "spaces at the ends)")
    return username


def broker_files(hub: tuple[str, str | None] | None, devices: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """(password file, ACL file) for the hub's account (username, hash or None when the broker gets it from
    elsewhere) and the devices with credentials (device id, hash)."""
    passwd: list[str] = []
    acl = ["# Written by `cityloop devices broker-config` from the device registry; edits here are lost.",
           "# Nothing is allowed that is not granted below (acl_file: deny by default)."]
    hub_user = None
    if hub is not None:
        hub_user = check_username(hub[0])
        if hub[1] is not None:
            passwd.append(f"{hub_user}:{hub[1]}")
        acl += ["", "# The hub: reads every device's alarms (also as $share/GROUP/…), writes nothing.",
                f"user {hub_user}", f"topic read {ALARM_TOPICS}", "topic read $SYS/#"]
    for device_id, hashed in devices:
        if check_username(device_id) == hub_user:
            raise ValueError(f"device {device_id!r} has the hub's MQTT username: rename one of them")
        passwd.append(f"{device_id}:{hashed}")
        acl += ["", f"user {device_id}", f"topic write {alarm_topic(device_id)}"]
    return "".join(line + "\n" for line in passwd), "\n".join(acl) + "\n"


def write_broker_files(folder: Path, passwd: str, acl: str) -> None:
    """Replaces `passwd` and `acl` in `folder` atomically (the broker may reload at any moment), readable by
    the owner and the folder's group: give the folder to the broker's group (`chgrp mosquitto DIR; chmod 2750
    DIR`) and every file written here is readable by the broker and nobody else."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("passwd", passwd), ("acl", acl)):
        temporary = folder / f".{name}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temporary, folder / name)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
