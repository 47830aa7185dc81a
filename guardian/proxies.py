"""Who a request comes from: its client address, read from the proxy's headers only when the
direct peer is one of `server.trusted_proxies`.

Behind the reverse proxy of docs/deployment.md every request arrives from 127.0.0.1, and the
proxy says whom it came from in `X-Forwarded-For` (nginx, Caddy) or `Forwarded` (RFC 7239).
Anyone can send those headers, so they are believed only from a trusted peer, and read from
the right: each proxy appends the address it got the request from, so the first address that
is not a trusted proxy is the client, whatever the client itself put in front of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address

#: What an address is known by when there is none to be had (a Unix socket, a bad header).
UNKNOWN = "unknown"
#: IPv6 clients are limited by their /64: one line or household usually holds a whole one.
IPV6_PREFIX = 64

_FOR = re.compile(r'(?:^|;)\s*for\s*=\s*("[^"]*"|[^;,\s]*)', re.IGNORECASE)
_WITH_PORT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<v4>[0-9.]+))(?::\d+)?$")


def network(text: str) -> str:
    """`text` checked as an address or a CIDR network (`10.0.0.0/8`, `::1`); a ValueError
    says what is wrong."""
    try:
        ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"not an IP address or network: {text!r}") from None
    return text.strip()


@lru_cache(maxsize=16)
def networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ip_network(entry, strict=False) for entry in entries)


def _parsed(text: str) -> Address | None:
    """An address from a header hop: `192.0.2.7`, `192.0.2.7:4711`, `[2001:db8::1]:4711`."""
    text = text.strip().strip('"')
    found = _WITH_PORT.match(text)
    try:
        return ip_address(text if found is None else found["v6"] or found["v4"])
    except ValueError:
        return None


def _trusted(address: Address | None, trusted: tuple[Network, ...]) -> bool:
    return address is not None and any(address in net for net in trusted)


def forwarded_chain(headers: Mapping[str, str]) -> list[str]:
    """The hops the proxies reported, client first: from `Forwarded` if there is one, else
    from `X-Forwarded-For`."""
    getall = getattr(headers, "getall", None)

    def values(name: str) -> list[str]:
        if getall is not None:
            return list(getall(name, []))
        value = headers.get(name)
        return [value] if value else []

    forwarded = values("Forwarded")
    if forwarded:
        return [
            found.group(1).strip('"')
            for header in forwarded
            for element in header.split(",")
            if (found := _FOR.search(element))
        ]
    return [hop.strip() for header in values("X-Forwarded-For") for hop in header.split(",")]


def client_address(
    peer: str | None, headers: Mapping[str, str], trusted_proxies: Iterable[str]
) -> str:
    """The address of whoever sent the request, as this server can know it."""
    trusted = networks(tuple(trusted_proxies))
    if not trusted or not _trusted(_parsed(peer or ""), trusted):
        return peer or UNKNOWN
    chain = [hop for hop in forwarded_chain(headers) if hop]
    for hop in reversed(chain):
        address = _parsed(hop)
        if address is None:
            # `unknown` or an obfuscated name: no proxy of ours, so whoever sent it.
            return hop[:64]
        if not _trusted(address, trusted):
            return str(address)
    # Only trusted addresses: the request started at the first of them (a client on the
    # proxies' own network).
    first = _parsed(chain[0]) if chain else None
    return str(first) if first is not None else (peer or UNKNOWN)


def limit_key(address: str) -> str:
    """The name a client is counted under: its address, or for IPv6 its /64 network."""
    parsed = _parsed(address)
    if isinstance(parsed, IPv6Address) and parsed.ipv4_mapped is None:
        return str(ip_network(f"{parsed}/{IPV6_PREFIX}", strict=False))
    if isinstance(parsed, IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return address
