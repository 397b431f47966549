"""Callback origins (connectors.callback_origins): one spelling per origin, what an operator may register,
which resolved addresses a host name may never lead to."""

from __future__ import annotations

import pytest

from connectors.callback_origins import BadOrigin, allowed, forbidden_address, origin_of, parse_origin, parse_origins


@pytest.mark.parametrize(("url", "origin"), [
    ("HTTPS://12345.Example.GOV.cn:443/api/callback?x=1", "https://12345.example.gov.cn"),
    ("http://12345.example.gov.cn:80", "http://12345.example.gov.cn"),
    ("https://12345.example.gov.cn:8443/cb", "https://12345.example.gov.cn:8443"),
    ("http://热线.南宁.中国/cb", "http://" + "热线.南宁.中国".encode("idna").decode()),  # IDNA (punycode)
    ("http://[0:0:0::1]:6379/", "http://[::1]:6379"),
    ("http://0x7f.1/", "http://127.0.0.1"),  # legacy IPv4 spellings are the address they mean
    ("http://2130706433:9000/", "http://127.0.0.1:9000"),
    ("http://example.gov.cn./cb", "http://example.gov.cn"),
    ("http://12345.example.gov.cn\\@127.0.0.1/", "http://12345.example.gov.cn"),  # WHATWG: "\" is "/"
    ("http://12345.example.gov.cn@127.0.0.1/", "http://127.0.0.1"),  # credentials are not the host
])
def test_an_origin_has_one_spelling(url: str, origin: str) -> None:
    assert origin_of(url) == origin


def test_a_callback_url_is_allowed_only_under_a_registered_origin() -> None:
    origins = parse_origins(["https://12345.example.gov.cn", "http://127.0.0.1:9000"])
    assert allowed("https://12345.EXAMPLE.gov.cn/any/path?q=1", origins)
    assert allowed("http://127.0.0.1:9000/cb", origins)
    assert not allowed("http://12345.example.gov.cn/cb", origins), "another scheme"
    assert not allowed("https://12345.example.gov.cn:8443/cb", origins), "another port"
    assert not allowed("https://evil-12345.example.gov.cn/cb", origins)
    assert not allowed("http://localhost:9000/cb", origins), "another name for an allowed address"
    assert not allowed("http://127.0.0.1:6379/", origins)
    assert not allowed("ftp://12345.example.gov.cn/", origins)
    assert not allowed("not a url", origins)


@pytest.mark.parametrize("text", ["https://12345.example.gov.cn/cb", "https://u:p@12345.example.gov.cn",
                                  "https://12345.example.gov.cn?x", "ftp://12345.example.gov.cn",
                                  "12345.example.gov.cn", "https://"])
def test_an_origin_is_only_scheme_host_and_port(text: str) -> None:
    with pytest.raises(BadOrigin):
        parse_origin(text)


def test_parse_origins_normalises_and_drops_repeats() -> None:
    assert parse_origins(["https://A.gov.cn:443/", "https://a.gov.cn", "http://10.8.1.20:8080"]) == \
        ("https://a.gov.cn", "http://10.8.1.20:8080")


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "169.254.169.254", "169.254.170.2",
                                     "fe80::1", "fe80::1%eth0", "0.0.0.0", "::", "224.0.0.251", "ff02::1",
                                     "100.100.100.200", "fd00:ec2::254", "::ffff:127.0.0.1", "::ffff:169.254.169.254"])
def test_the_machine_and_the_cloud_under_it_are_never_reached_by_name(address: str) -> None:
    assert forbidden_address(address)


@pytest.mark.parametrize("address", ["10.8.1.20", "172.16.0.5", "192.168.1.10", "100.100.100.201", "59.211.1.1",
                                     "fd00::1", "2400:da00::1"])
def test_extranet_and_public_addresses_may_be_reached(address: str) -> None:
    assert not forbidden_address(address)
