"""Where status callbacks may go (SSRF guard): callback origins and the addresses never called by name.

An origin is scheme + host + port (`https://12345.example.gov.cn`, `http://10.8.1.20:8080`): a callback URL
may go to any path of an origin registered for the hotline key that pushed the ticket, or of one allowed by
`CITYLOOP_CALLBACK_ALLOWED_ORIGINS`, and nowhere else. The 12345 platforms sit on the government extranet,
so private addresses (10/8, 172.16/12, 192.168/16) are legitimate when an operator registers them; what is
never reached through a *host name* are the addresses of this machine and of the cloud under it — loopback,
link-local (cloud metadata 169.254.169.254), unspecified, multicast and the metadata services at other
addresses. An origin that is an IP literal of those ranges (`http://127.0.0.1:9000`, a local receiver) is
an operator's explicit choice and is allowed; a name that resolves there (`localhost`, or a DNS answer
rebound to 127.0.0.1 after the ticket was accepted) is not. The hub checks the resolved addresses at send
time (hub.services.destinations).

Pure: URLs are parsed the way the sender (aiohttp, i.e. yarl) sees them, after the WHATWG normalisation the
ticket's `callback_url` gets from pydantic, so the check and the connection never disagree about the host.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final

from pydantic import AnyHttpUrl, TypeAdapter, ValidationError
from yarl import URL

DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# Reached by an IP literal origin only. Private ranges are deliberately absent (extranet receivers).
FORBIDDEN_NETWORKS: Final = tuple(ipaddress.ip_network(net) for net in (
    "0.0.0.0/8",           # "this network"; 0.0.0.0 reaches the local host on Linux
    "127.0.0.0/8",         # loopback
    "169.254.0.0/16",      # link-local: AWS/GCP/Azure/Huawei/Tencent metadata live here
    "224.0.0.0/4",         # multicast
    "255.255.255.255/32",  # broadcast
    "100.100.100.200/32",  # Alibaba Cloud metadata
    "::/128",              # unspecified
    "::1/128",             # loopback
    "fe80::/10",           # link-local
    "ff00::/8",            # multicast
    "fd00:ec2::254/128",   # AWS metadata over IPv6
))
_URL: Final = TypeAdapter(AnyHttpUrl)


class BadOrigin(ValueError):
    """An origin (or URL) that cannot be used for callbacks; the message says why."""


def normalise_url(url: str) -> str:
    """The URL as the hub stores and sends it (WHATWG: lower-case scheme and host, IDNA, canonical IPv4)."""
    try:
        return str(_URL.validate_python(url))
    except ValidationError as exc:
        raise BadOrigin(f"not an http(s) URL: {exc.errors(include_url=False)[0]['msg']}") from None


def _host(raw_host: str) -> str:
    try:
        return str(ipaddress.ip_address(raw_host))  # one spelling per address (IPv6 compressed)
    except ValueError:
        return raw_host.lower().rstrip(".")  # `example.gov.cn.` is the same name


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, the port left out when it is the scheme's default."""
    parsed = URL(normalise_url(url))
    scheme, host, port = parsed.scheme, parsed.raw_host, parsed.port
    if scheme not in DEFAULT_PORTS or not host or port is None:
        raise BadOrigin("only http and https URLs with a host can receive callbacks")
    host = _host(host)
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" if port == DEFAULT_PORTS[scheme] else f"{scheme}://{shown}:{port}"


def parse_origin(text: str) -> str:
    """An origin as an operator registers it (CLI, settings): scheme, host and port only — no path, query,
    fragment or credentials, so that what is allowed is plain to read."""
    parsed = URL(normalise_url(text.strip()))
    if parsed.raw_path not in ("", "/") or parsed.raw_query_string or parsed.raw_fragment or parsed.raw_user:
        raise BadOrigin(f"{text!r} is not an origin: give scheme://host[:port] without a path")
    return origin_of(str(parsed))


def parse_origins(texts: Iterable[str]) -> tuple[str, ...]:
    """Several origins, normalised, without repeats, in the order given."""
    return tuple(dict.fromkeys(parse_origin(text) for text in texts))


def allowed(url: str, origins: Iterable[str]) -> bool:
    """Whether a callback URL's origin is one of `origins` (normalised ones, as parse_origin returns)."""
    try:
        return origin_of(url) in set(origins)
    except BadOrigin:
        return False


def literal_host(url: str) -> str | None:
    """The URL's host when it is an IP literal (aiohttp connects to it without resolving), else None."""
    host = URL(url).raw_host or ""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def forbidden_address(address: str) -> bool:
    """Whether a resolved address may not be reached through a host name."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone (`fe80::1%eth0`) names no other address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return any(ip in net for net in FORBIDDEN_NETWORKS)
