"""The broker's account files derived from the registry (hub/services/iot/broker.py): hashes in Mosquitto's own
`$7$` format, checked against what `mosquitto_passwd` writes (the broker accepting them at CONNECT is
tests/integration/test_device_mqtt_accounts.py), and an ACL that grants each device its own topic alone."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest

from hub.services.iot.broker import (
    ITERATIONS,
    broker_files,
    check_username,
    mosquitto_hash,
    new_password,
    verify,
    write_broker_files,
)


def test_the_hash_is_the_one_mosquitto_passwd_writes(tmp_path: Path) -> None:
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    subprocess.run([tool, "-b", "-c", str(tmp_path / "passwd"), "dev-1", "pässword:with@signs"], check=True,
                   capture_output=True, timeout=30)
    username, theirs = (tmp_path / "passwd").read_text(encoding="utf-8").strip().split(":", 1)
    _, kind, iterations, salt, _key = theirs.split("$")
    assert (username, kind) == ("dev-1", "7")
    # The same password, salt and iterations give mosquitto_passwd's line exactly.
    assert mosquitto_hash("pässword:with@signs", salt=base64.b64decode(salt), iterations=int(iterations)) == theirs
    assert verify("pässword:with@signs", theirs) and not verify("password", theirs)


def test_a_new_hash_has_mosquittos_layout_and_a_fresh_salt() -> None:
    password = new_password()
    assert len(password) == 32 and password.replace("-", "").replace("_", "").isalnum()
    first, second = mosquitto_hash(password), mosquitto_hash(password)
    _, kind, iterations, salt, key = first.split("$")
    assert (kind, int(iterations), len(base64.b64decode(salt)), len(base64.b64decode(key))) == ("7", ITERATIONS,
                                                                                              12, 64)
    assert first != second and verify(password, first) and verify(password, second)
    assert not verify(password, "$6$abc$def") and not verify(password, "plain")


def test_each_device_may_write_its_own_topic_and_the_hub_may_only_read() -> None:
    passwd, acl = broker_files(("cityloop-hub", "$7$HUB"), [("WL-1", "$7$ONE"), ("WL-积水", "$7$TWO")])
    assert passwd == "cityloop-hub:$7$HUB\nWL-1:$7$ONE\nWL-积水:$7$TWO\n"
    sections = [block.splitlines() for block in acl.split("\n\n")[1:]]
    assert sections == [
        ["# The hub: reads every device's alarms (also as $share/GROUP/…), writes nothing.",
         "user cityloop-hub", "topic read cityloop/iot/+/alarm", "topic read $SYS/#"],
        ["user WL-1", "topic write cityloop/iot/WL-1/alarm"],
        ["user WL-积水", "topic write cityloop/iot/WL-积水/alarm"]]
    # Without a hash the hub's account is the broker's to add (docker-compose.yml: from .env); its rights stay.
    passwd, acl = broker_files(("cityloop-hub", None), [])
    assert passwd == "" and "user cityloop-hub" in acl


@pytest.mark.parametrize("name", ["dev:1", "dev+", "a/b", "#", " padded", "two\nlines", ""])
def test_names_mosquittos_files_cannot_hold_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="MQTT username"):
        check_username(name)
    with pytest.raises(ValueError, match="MQTT username"):
        broker_files(None, [(name, "$7$X")])


def test_a_device_named_like_the_hubs_account_is_refused() -> None:
    # Its password line would be the hub's, and the hub would gain its write right.
    with pytest.raises(ValueError, match="hub's MQTT username"):
        broker_files(("cityloop-hub", "$7$HUB"), [("cityloop-hub", "$7$DEV")])


def test_the_files_are_replaced_whole_and_readable_by_the_folders_group_only(tmp_path: Path) -> None:
    write_broker_files(tmp_path / "broker", "a:$7$1\n", "user a\n")
    write_broker_files(tmp_path / "broker", "b:$7$2\n", "user b\n")
    assert sorted(p.name for p in (tmp_path / "broker").iterdir()) == ["acl", "passwd"]  # no temporary left
    assert (tmp_path / "broker" / "passwd").read_text(encoding="utf-8") == "b:$7$2\n"
    assert (tmp_path / "broker" / "acl").stat().st_mode & 0o777 == 0o640
