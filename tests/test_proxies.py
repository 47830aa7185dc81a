"""The client address behind the reverse proxy: proxy headers believed from trusted peers only,
read from the right, so that what a client writes in them changes nothing."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from guardian.proxies import client_address, forwarded_chain, limit_key, network

PROXY = ["127.0.0.1", "10.0.0.0/8", "::1"]


def headers(*pairs: tuple[str, str]) -> CIMultiDict[str]:
    return CIMultiDict(pairs)


@pytest.mark.parametrize(
    ("peer", "sent", "trusted", "client"),
    [
        # No trusted proxies: the headers are anyone's words.
        ("127.0.0.1", [("X-Forwarded-For", "203.0.113.5")], [], "127.0.0.1"),
        # A peer that is not a trusted proxy: its headers are not believed either.
        ("198.51.100.9", [("X-Forwarded-For", "203.0.113.5")], PROXY, "198.51.100.9"),
        # nginx's $proxy_add_x_forwarded_for: the client's own header, then the real peer.
        ("127.0.0.1", [("X-Forwarded-For", "203.0.113.5")], PROXY, "203.0.113.5"),
        ("127.0.0.1", [("X-Forwarded-For", "1.2.3.4, 203.0.113.5")], PROXY, "203.0.113.5"),
        (
            "127.0.0.1",
            [("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-For", "203.0.113.5")],
            PROXY,
            "203.0.113.5",
        ),
        # Two proxies of ours (10.x in front of the local one): the first other address.
        (
            "127.0.0.1",
            [("X-Forwarded-For", "1.2.3.4, 203.0.113.5, 10.1.2.3")],
            PROXY,
            "203.0.113.5",
        ),
        # A client on the proxies' own network.
        ("127.0.0.1", [("X-Forwarded-For", "10.9.8.7")], PROXY, "10.9.8.7"),
        # The proxy sent nothing: the peer is all there is.
        ("127.0.0.1", [], PROXY, "127.0.0.1"),
        # RFC 7239, with ports and IPv6 brackets; Forwarded wins over X-Forwarded-For.
        (
            "127.0.0.1",
            [("Forwarded", 'for="[2001:db8:cafe::17]:4711";proto=https')],
            PROXY,
            "2001:db8:cafe::17",
        ),
        (
            "127.0.0.1",
            [
                ("Forwarded", "for=1.2.3.4, for=192.0.2.60:8080;by=10.0.0.1"),
                ("X-Forwarded-For", "1.2.3.4"),
            ],
            PROXY,
            "192.0.2.60",
        ),
        ("::1", [("Forwarded", "for=unknown")], PROXY, "unknown"),
        ("::1", [("X-Forwarded-For", "garbage")], PROXY, "garbage"),
        (None, [("X-Forwarded-For", "203.0.113.5")], PROXY, "unknown"),
    ],
)
def test_client_address(
    peer: str | None, sent: list[tuple[str, str]], trusted: list[str], client: str
) -> None:
    assert client_address(peer, headers(*sent), trusted) == client


def test_forwarded_chain_is_client_first() -> None:
    assert forwarded_chain(headers(("X-Forwarded-For", "a, b"), ("X-Forwarded-For", "c"))) == [
        "a",
        "b",
        "c",
    ]


def test_ipv6_clients_are_counted_by_their_64() -> None:
    assert limit_key("2001:db8:cafe:1::17") == limit_key("2001:db8:cafe:1:ffff::1")
    assert limit_key("2001:db8:cafe:1::17") == "2001:db8:cafe:1::/64"
    assert limit_key("2001:db8:cafe:2::17") != limit_key("2001:db8:cafe:1::17")
    assert limit_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert limit_key("192.0.2.1") == "192.0.2.1"
    assert limit_key("unknown") == "unknown"


def test_a_trusted_proxy_entry_is_an_address_or_a_network() -> None:
    assert network(" 10.0.0.0/8 ") == "10.0.0.0/8"
    assert network("::1") == "::1"
    for bad in ("localhost", "10.0.0.0/33", "", "nginx"):
        with pytest.raises(ValueError, match="not an IP address or network"):
            network(bad)
