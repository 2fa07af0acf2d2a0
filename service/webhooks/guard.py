"""Refuses webhook targets on private, loopback, link-local or multicast addresses (SSRF).

Checked when a subscription is created or its URL changes, and again before
every delivery, since what a name resolves to can change.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


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


def check_target(url: str, allow: str = "") -> None:
    """Raises UnsafeTargetError unless every address the URL's host resolves to may be called."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTargetError("only absolute http(s) URLs can receive webhooks")
    host = parts.hostname.lower()
    names, networks = _allow_entries(allow)
    if host in names:
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTargetError(f"the host '{host}' does not resolve: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if any(address in network for network in networks):
            continue
        if _forbidden(address):
            raise UnsafeTargetError(
                f"'{host}' resolves to {address}, a private, loopback, link-local or multicast address; "
                "name it in TIMELINE_WEBHOOK_ALLOW_HOSTS to allow it"
            )
