"""Which Host and Origin values a server answers to: the policy, pure."""

from __future__ import annotations

import pytest

from wess.api.sites import SitePolicy, normal_origin, same_origin, split_host


def policy(host: str = "127.0.0.1", port: int = 8080, **options) -> SitePolicy:
    loopback = host in ("127.0.0.1", "::1", "localhost")
    return SitePolicy.for_address(host, port, loopback=loopback, **options)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"example.com", (b"example.com", None)),
        (b"example.com:8080", (b"example.com", b"8080")),
        (b"[::1]:8080", (b"[::1]", b"8080")),
        (b"[::1]", (b"[::1]", None)),
        (b"::1", (b"::1", None)),
    ],
)
def test_split_host(value, expected):
    """A Host value's name and port; IPv6 names keep their brackets."""
    assert split_host(value) == expected


def test_a_loopback_bind_answers_to_its_address_and_the_loopback_names_on_its_port():
    """127.0.0.1:8080 answers to 127.0.0.1, localhost and [::1] on 8080 (any case),
    nothing else."""
    sites = policy()
    for host in (b"127.0.0.1:8080", b"localhost:8080", b"[::1]:8080", b"LocalHost:8080"):
        assert sites.host_allowed(host), host
    for host in (b"127.0.0.1:8081", b"127.0.0.1", b"attacker.example:8080", b"", b"localhost."):
        assert not sites.host_allowed(host), host


def test_the_default_port_may_be_left_out():
    """On port 80 (http) or 443 (https) a Host without a port is the same site."""
    assert policy(port=80).host_allowed(b"localhost")
    assert policy(port=443, scheme="https").host_allowed(b"localhost")
    assert not policy(port=443).host_allowed(b"localhost")


def test_an_ipv6_bind_answers_in_brackets():
    """A server bound to ::1 is addressed as [::1]:port."""
    assert policy("::1").host_allowed(b"[::1]:8080")


def test_a_public_address_bind_answers_to_itself_and_configured_names_only():
    """Bound to 192.0.2.10: that address and the configured names; not the loopback names
    (the bind does not include loopback)."""
    sites = policy("192.0.2.10", allowed_hosts=["wess.example", "api.example:443"])
    assert sites.host_allowed(b"192.0.2.10:8080")
    assert sites.host_allowed(b"wess.example:1234")
    assert sites.host_allowed(b"WESS.example")
    assert sites.host_allowed(b"api.example:443")
    assert not sites.host_allowed(b"api.example:8443")
    assert not sites.host_allowed(b"localhost:8080")


def test_a_wildcard_bind_answers_to_any_host_until_names_are_configured():
    """0.0.0.0 has no name to compare with: any Host, unless allowed_hosts names some,
    then those and the loopback names (a wildcard bind includes loopback)."""
    assert policy("0.0.0.0").host_allowed(b"anything.example")
    named = policy("0.0.0.0", allowed_hosts=["wess.example"])
    assert named.host_allowed(b"wess.example")
    assert named.host_allowed(b"localhost:8080")
    assert not named.host_allowed(b"anything.example")
    assert policy("127.0.0.1", allowed_hosts=["*"]).host_allowed(b"anything.example")


def test_origins_same_origin_and_listed():
    """The server's own origin (the Host it was reached by) and listed origins pass;
    another site, another port or scheme, and "null" do not."""
    sites = policy(cors_origins=["https://App.example:443/"])
    host = b"127.0.0.1:8080"
    assert sites.origin_allowed(b"http://127.0.0.1:8080", scheme="http", host=host)
    assert sites.origin_allowed(b"https://app.example", scheme="http", host=host)
    assert sites.cross_origin_allowed(b"https://app.example")
    for origin in (
        b"http://attacker.example",
        b"http://127.0.0.1:8081",
        b"https://127.0.0.1:8080",
        b"null",
        b"https://app.example.attacker.example",
    ):
        assert not sites.origin_allowed(origin, scheme="http", host=host), origin
    assert not sites.origin_allowed(b"http://127.0.0.1:8080", scheme="http", host=None)


def test_origin_forms():
    """Configured origins are compared in the form browsers send: lowercase, no trailing
    slash, no default port; a Host with its default port written is still same-origin."""
    assert normal_origin("HTTPS://App.Example:443/") == "https://app.example"
    assert normal_origin("http://app.example:8080") == "http://app.example:8080"
    assert same_origin(b"http://localhost", "http", b"localhost:80")
    assert not same_origin(b"http://localhost", "https", b"localhost:80")
