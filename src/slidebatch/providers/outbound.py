"""Where the server may fetch an image from when an upstream answers with a URL.

An upstream (or a relay posing as one) names the URL, so fetching it blindly is a
server-side request forgery: ``http://169.254.169.254/...`` or ``http://127.0.0.1:8000/...``
would be fetched by the server and served back as a slide. A download is allowed only when

* the scheme is http(s) and the host is one the provider answers from (its base URL's host)
  or one ``IMAGE_DOWNLOAD_ALLOWED_HOSTS`` names (a name or a parent domain);
* every address the name resolves to is a public (global unicast) one: never loopback,
  link-local (cloud metadata lives there), private, shared, reserved or multicast; checked
  after DNS, and again for every redirect hop (at most ``max_redirects``).

The resolver is injected, so tests check the policy without a network. The connection goes
to the address that was checked, not to the name: :meth:`OutboundPolicy.pin` resolves once,
vets every address, and :meth:`PinnedURL.request` builds a request for ``https://<vetted
IP>/...`` that keeps the name in the ``Host`` header and in TLS (the ``sni_hostname``
extension of httpcore, which also verifies the certificate against the name). A name whose
answer changes between the check and the connection (DNS rebinding with a zero TTL) is
never re-resolved, so it cannot slip a loopback or metadata address in after the check.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import httpx

from slidebatch.errors import PermanentProviderError

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, through the event loop's resolver."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class DownloadRefused(PermanentProviderError):
    """The upstream's image URL points somewhere the server does not fetch from."""


def host_of(url: str) -> str:
    """The lower-cased host of ``url`` ('' when it has none)."""
    try:
        return httpx.URL(url).host.lower()
    except (httpx.InvalidURL, TypeError, ValueError):
        return ""


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """Which image URLs may be fetched: allowed hosts, public addresses, bounded redirects."""

    allowed_hosts: frozenset[str]
    resolver: Resolver = field(default=system_resolver)
    max_redirects: int = 5

    @classmethod
    def for_upstream(
        cls, base_url: str, extra: Iterable[str] = (), *, resolver: Resolver = system_resolver
    ) -> OutboundPolicy:
        """The provider's own host plus the configured allow-list."""
        hosts = {host_of(base_url), *(h.strip().lower().lstrip(".") for h in extra)}
        return cls(frozenset(h for h in hosts if h), resolver)

    async def check(self, url: str) -> None:
        """Raise ``DownloadRefused`` unless ``url`` may be fetched right now."""
        await self.pin(url)

    async def pin(self, url: str) -> PinnedURL:
        """``url`` with the public address to connect to; ``DownloadRefused`` when refused.

        The name is resolved once here; every address must be public, and the connection is
        made to the first of them (see :class:`PinnedURL`).
        """
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise DownloadRefused("the upstream's image URL does not parse") from None
        if parsed.scheme not in ("http", "https"):
            raise DownloadRefused(f"the upstream's image URL has scheme {parsed.scheme!r}")
        host = parsed.host.lower()
        if not self._host_allowed(host):
            raise DownloadRefused(
                f"the upstream's image URL is on {host!r}, not the upstream's host or "
                "IMAGE_DOWNLOAD_ALLOWED_HOSTS"
            )
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            addresses = await self.resolver(host, port)
        except OSError as exc:
            raise DownloadRefused(f"the image host {host!r} does not resolve") from exc
        if not addresses:
            raise DownloadRefused(f"the image host {host!r} does not resolve")
        for address in addresses:
            reason = _forbidden(address)
            if reason is not None:
                raise DownloadRefused(
                    f"the image host {host!r} resolves to {reason} address {address}; "
                    "the server never fetches from those"
                )
        return PinnedURL(parsed, addresses[0].split("%", 1)[0])

    def _host_allowed(self, host: str) -> bool:
        return any(host == h or host.endswith("." + h) for h in self.allowed_hosts)


@dataclass(frozen=True, slots=True)
class PinnedURL:
    """A vetted URL and the address it was vetted at: connect there, and only there."""

    url: httpx.URL
    address: str

    def request(self, client: httpx.AsyncClient, *, timeout: float) -> httpx.Request:
        """A GET to ``address`` that speaks to the URL's host (``Host`` header, TLS SNI).

        No second DNS lookup happens: the URL's host is the address itself, and the
        certificate is still checked against the name (``sni_hostname``).
        """
        host = self.url.host
        return client.build_request(
            "GET",
            self.url.copy_with(host=self.address),
            headers={"Host": self.url.netloc.decode("ascii")},
            extensions={"sni_hostname": host, "timeout": httpx.Timeout(timeout).as_dict()},
        )


def _forbidden(address: str) -> str | None:
    """Why ``address`` may not be fetched from (``None``: a public address)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "an unreadable"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for name, flag in (
        ("a loopback", ip.is_loopback),
        ("a link-local (metadata)", ip.is_link_local),
        ("a private", ip.is_private),
        ("a multicast", ip.is_multicast),
        ("an unspecified", ip.is_unspecified),
        ("a reserved", ip.is_reserved),
    ):
        if flag:
            return name
    return None if ip.is_global else "a non-public"
