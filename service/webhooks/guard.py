"""Refuses webhook targets on any address that is not globally routable unicast (SSRF).

Private, loopback, link-local, shared (100.64.0.0/10, where cloud metadata can
answer), documentation, reserved and multicast addresses are refused, and so is
every IPv6 form that wraps such an IPv4 address (mapped, compatible, NAT64,
6to4, Teredo): each is checked as the IPv4 a packet to it ends up at.

Checked when a subscription is created or its URL changes, and again before
every delivery, since what a name resolves to can change. A delivery then
connects to the address that was checked (``pinned``), not to whatever a second
lookup would answer: a name that resolves to a public address for the check and
to an internal one a moment later (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit


class UnsafeTargetError(ValueError):
    pass


def _allow_entries(allow: str) -> tuple[set[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    names: set[str] = set()
    networks = []
    for entry in (e.strip() for e in allow.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.lower())
    return names, networks


Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Not globally routable, though ``ipaddress`` (3.11) calls them global: site-local fec0::/10
# (deprecated by RFC 3879, still routed inside some networks), the 6to4 relay anycast
# 192.88.99.0/24 (RFC 7526) and the documentation prefix 3fff::/20 (RFC 9637).
_NOT_GLOBAL = tuple(ipaddress.ip_network(n) for n in ("fec0::/10", "192.88.99.0/24", "3fff::/20"))
# NAT64 (RFC 6052): the well-known prefix carries the IPv4 in its last 32 bits, and a packet
# to it goes to that IPv4. The local-use prefix (RFC 8215) places the IPv4 where its network
# chose, so what it reaches cannot be told from the address: it is refused.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # ::a.b.c.d, deprecated (RFC 4291 2.5.5.1)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address wraps, which a packet to it may end up at.

    6to4 (2002::/16) and Teredo (2001::/32, its server and its client) tunnel to the IPv4
    they name: 2002:7f00:1:: is loopback by another name.
    """
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):  # :: and ::1 wrap nothing
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    return []


def refusal(address: Address) -> str | None:
    """Why a webhook may not be sent to the address, or None if it is globally routable unicast."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL:
            return "a local-use NAT64 address, which can reach any IPv4 address"
        for inner in _embedded_ipv4(address):
            if (why := refusal(inner)) is not None:
                return f"an address that wraps {inner}, {why}"
        if address.ipv4_mapped is not None or address in _NAT64:
            return None  # the wrapped IPv4, checked above, is where the packet goes
    if address.is_multicast:
        return "a multicast address"
    if not address.is_global or address.is_reserved or any(address in n for n in _NOT_GLOBAL):
        return "not a globally routable address (private, loopback, link-local, shared or reserved)"
    return None


@dataclass(frozen=True)
class Pinned:
    """Where to send a delivery: the checked address, with the name it was checked for."""

    url: str  # the URL with the host replaced by the checked address
    host: str  # the Host header: the name (and port) of the original URL
    server_name: str | None  # for TLS: the name to send (SNI) and to verify the certificate against


# (host, port) -> the addresses the name stands for, in the resolver's order; socket.gaierror
# when it stands for none. The service resolves through the system; tests give names of their own.
Resolve = Callable[[str, int], list[str]]


def system_resolve(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def check_target(url: str, allow: str = "", resolve: Resolve = system_resolve) -> list[str]:
    """The addresses the URL's host resolves to, if every one may be called; else UnsafeTargetError.

    A host the allow-list names as such is not resolved here (an empty list).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTargetError("only absolute http(s) URLs can receive webhooks")
    host = parts.hostname.lower()
    names, networks = _allow_entries(allow)
    if host in names:
        return []
    try:
        resolved = resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTargetError(f"the host '{host}' does not resolve: {exc}") from None
    addresses = []
    for text in resolved:
        address = ipaddress.ip_address(text.split("%")[0])
        addresses.append(str(address))
        if any(address in network for network in networks):
            continue
        if (why := refusal(address)) is not None:
            raise UnsafeTargetError(
                f"'{host}' resolves to {address}, {why}; name it in TIMELINE_WEBHOOK_ALLOW_HOSTS to allow it"
            )
    return list(dict.fromkeys(addresses))


def pinned(url: str, allow: str = "", resolve: Resolve = system_resolve) -> list[Pinned]:
    """The checked targets of a delivery, one per address, in the resolver's order.

    Empty when the allow-list names the host: then the URL is called as it is.
    """
    parts = urlsplit(url)
    credentials, _, host = parts.netloc.rpartition("@")  # credentials stay in the URL, not in Host
    server_name = parts.hostname if parts.scheme == "https" and not _is_address(parts.hostname or "") else None
    targets = []
    for text in check_target(url, allow, resolve):
        address = ipaddress.ip_address(text)
        netloc = f"[{address}]" if address.version == 6 else str(address)
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
        if credentials:
            netloc = f"{credentials}@{netloc}"
        targets.append(
            Pinned(SplitResult(parts.scheme, netloc, parts.path, parts.query, "").geturl(), host, server_name)
        )
    return targets


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
