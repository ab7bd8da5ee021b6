"""Where a webhook may be posted: public addresses only, checked where the connection is made.

An admin types the URL, and the worker posts from inside our network and logs the start of
any non-2xx answer; without this policy a webhook could probe the cloud's metadata service,
Redis or the database. A URL is checked when its endpoint is added (``check_host``), and again at every
delivery on the address actually connected to: the connection classes resolve the name, refuse
the lot if any address is not public (so DNS rebinding gains nothing), then connect to one of
the addresses just checked. TLS still verifies the certificate, and SNI names, the URL's host.
``NEWSLETTER_WEBHOOK_ALLOW_PRIVATE`` turns the policy off (development, the tests' receiver).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import urllib.request
from functools import lru_cache
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The first test that holds names what is wrong with an address; ``is_global`` catches the rest
# (shared address space 100.64.0.0/10, documentation ranges, ...). Multicast comes before it:
# Python counts some multicast ranges as global.
KINDS = (("is_loopback", "a loopback"), ("is_unspecified", "an unspecified"),
         ("is_link_local", "a link-local"), ("is_multicast", "a multicast"),
         ("is_reserved", "a reserved"), ("is_private", "a private"))
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv4 reached through a NAT64 gateway


class RefusedAddress(OSError):
    """A connection the policy refused before a byte was sent; the message says why."""


def _kind(ip: IPAddress) -> str | None:
    for test, kind in KINDS:
        if getattr(ip, test):
            return f"{kind} address"
    return None if ip.is_global else "not a public address"


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, compatible, 6to4, NAT64), if any."""
    if ip.ipv4_mapped or ip.sixtofour:
        return ip.ipv4_mapped or ip.sixtofour
    if 1 < int(ip) < 2**32 or ip in NAT64:  # ::a.b.c.d (deprecated) or 64:ff9b::a.b.c.d
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _address_kind(address: str) -> str | None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # without an IPv6 zone ("%eth0")
    inner = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    if inner is None:
        return _kind(ip)
    kind = _kind(inner)
    if kind is None and ip.ipv4_mapped is None and ip not in NAT64 and ip.sixtofour is None:
        kind = "a reserved address"  # an IPv4-compatible form: deprecated, never routed
    return f"{kind} (IPv4 {inner})" if kind else None


def refusal(address: str) -> str | None:
    """Why a webhook may not go to this IP address ("10.0.0.5 is a private address"), or None."""
    kind = _address_kind(address)
    return f"{address} is {kind}" if kind else None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _resolve(host: str, port: int) -> list[Any]:
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:  # a name IDNA cannot encode resolves to nothing
        raise socket.gaierror(f"{host!r} is not a valid host name") from exc


def check_host(host: str, port: int) -> str | None:
    """Why an endpoint may not use this host, or None. A name that does not resolve now is let
    through (DNS may be down, or not yet set up): each delivery checks it again."""
    if _literal(host) is not None:
        return refusal(host)
    try:
        addresses = [info[4][0] for info in _resolve(host, port)]
    except OSError:
        addresses = []
    for address in addresses:
        kind = _address_kind(address)
        if kind:
            return f"{host} resolves to {address}, {kind}"
    name = host.rstrip(".").lower()
    if not addresses and ("." not in name or name.endswith(".localhost")):
        return f"{host} names a machine on the local network, not a public host"
    return None


def connect(host: str, port: int, timeout: float | None, allow_private: bool) -> socket.socket:
    """A TCP connection to ``host``, made only to addresses the policy allows."""
    infos = _resolve(host, port)
    if not allow_private:
        for info in infos:
            reason = refusal(info[4][0])
            if reason:
                raise RefusedAddress(reason)
    error: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _name, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            if isinstance(timeout, int | float):  # else the connection's default applies
                sock.settimeout(timeout)
            sock.connect(address)  # the address checked above, never a second lookup
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error


class GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, allow_private: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.allow_private = allow_private

    def connect(self) -> None:
        self.sock = connect(self.host, self.port, self.timeout, self.allow_private)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class GuardedHTTPSConnection(http.client.HTTPSConnection, GuardedHTTPConnection):
    """HTTPSConnection.connect calls ``super().connect()`` (the guarded one, by this class's
    method order) for the TCP connection, then wraps it in TLS for ``self.host``."""

    def __init__(self, *args: Any, allow_private: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.allow_private = allow_private


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, allow_private: bool) -> None:
        super().__init__()
        self.allow_private = allow_private

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(GuardedHTTPConnection, req, allow_private=self.allow_private)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, allow_private: bool, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self.allow_private, self.tls = allow_private, context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(GuardedHTTPSConnection, req, context=self.tls,
                            allow_private=self.allow_private)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a 2xx: never follow it (it could lead anywhere)."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def build_opener(allow_private: bool = False,
                 context: ssl.SSLContext | None = None) -> urllib.request.OpenerDirector:
    """An opener that connects directly (a proxy from the environment would be the only
    address checked), through the guarded connections, and follows no redirect."""
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), _HTTPHandler(allow_private),
        _HTTPSHandler(allow_private, context or ssl.create_default_context()), _NoRedirects)


@lru_cache(maxsize=2)
def opener(allow_private: bool = False) -> urllib.request.OpenerDirector:
    """The shared opener for this policy (built once: loading the CA certificates is slow)."""
    return build_opener(allow_private)
