"""Refuses webhook targets on private, loopback, link-local or multicast addresses (SSRF).

Checked when a subscription is created or its URL changes, and again before
every delivery, since what a name resolves to can change. A delivery then
connects to the address that was checked (``pinned``), not to whatever a second
lookup would answer: a name that resolves to a public address for the check and
to an internal one a moment later (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
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


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
        or address.is_reserved or address.is_unspecified
    )


@dataclass(frozen=True)
class Pinned:
    """Where to send a delivery: the checked address, with the name it was checked for."""

    url: str  # the URL with the host replaced by the checked address
    host: str  # the Host header: the name (and port) of the original URL
    server_name: str | None  # for TLS: the name to send (SNI) and to verify the certificate against


def check_target(url: str, allow: str = "") -> list[str]:
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
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTargetError(f"the host '{host}' does not resolve: {exc}") from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        addresses.append(str(address))
        if any(address in network for network in networks):
            continue
        if _forbidden(address):
            raise UnsafeTargetError(
                f"'{host}' resolves to {address}, a private, loopback, link-local or multicast address; "
                "name it in TIMELINE_WEBHOOK_ALLOW_HOSTS to allow it"
            )
    return list(dict.fromkeys(addresses))


def pinned(url: str, allow: str = "") -> list[Pinned]:
    """The checked targets of a delivery, one per address, in the resolver's order.

    Empty when the allow-list names the host: then the URL is called as it is.
    """
    parts = urlsplit(url)
    credentials, _, host = parts.netloc.rpartition("@")  # credentials stay in the URL, not in Host
    server_name = parts.hostname if parts.scheme == "https" and not _is_address(parts.hostname or "") else None
    targets = []
    for text in check_target(url, allow):
        address = ipaddress.ip_address(text)
        netloc = f"[{address}]" if address.version == 6 else str(address)
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
        if credentials:
            netloc = f"{credentials}@{netloc}"
        targets.append(Pinned(SplitResult(parts.scheme, netloc, parts.path, parts.query, "").geturl(), host, server_name))
    return targets


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
