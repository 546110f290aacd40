"""Image downloads: only from allowed hosts at public addresses, checked after DNS and per hop."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image
from provider_rig import KEY, ask

from slidebatch.config import load_settings
from slidebatch.providers.openrouter import OpenRouterProvider
from slidebatch.providers.outbound import DownloadRefused, OutboundPolicy
from slidebatch.providers.registry import build_provider

DNS = {
    "gw.example": ["93.184.216.34"],
    "cdn.example": ["93.184.216.35"],
    "img.cdn.example": ["93.184.216.37"],
    "meta.example": ["169.254.169.254"],
    "local.example": ["127.0.0.1"],
    "lan.example": ["10.1.2.3"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "ula.example": ["fd00:ec2::254"],
    "mixed.example": ["93.184.216.36", "192.168.1.9"],
}


async def resolve(host: str, port: int) -> list[str]:
    """The test's DNS: a table, and IP literals as themselves."""
    if host in DNS:
        return DNS[host]
    if host[0].isdigit() or ":" in host:
        return [host]
    raise OSError("no such name")


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (1344, 768), (32, 64, 128)).save(buffer, format="PNG")
    return buffer.getvalue()


def chat(url: str) -> dict[str, object]:
    return {"choices": [{"message": {"images": [{"image_url": {"url": url}}]}}]}


def provider_for(
    client: httpx.AsyncClient, allowed: tuple[str, ...] = ("cdn.example", "meta.example")
) -> OpenRouterProvider:
    policy = OutboundPolicy.for_upstream("https://gw.example/api/v1", allowed, resolver=resolve)
    return OpenRouterProvider(
        client, api_key=KEY, base_url="https://gw.example/api/v1", model="m", download_policy=policy
    )


def logical_url(request: httpx.Request) -> str:
    """The URL as the client meant it: the connection's path under the Host it names."""
    return str(request.url.copy_with(netloc=request.headers["host"].encode("ascii")))


def upstream(
    image_url: str, *, redirects: dict[str, str] | None = None
) -> tuple[list[str], httpx.MockTransport]:
    fetched: list[str] = []
    image = png()

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/chat/completions"):
            return httpx.Response(200, json=chat(image_url))
        fetched.append(logical_url(request))
        target = (redirects or {}).get(logical_url(request))
        if target is not None:
            return httpx.Response(302, headers={"location": target})
        return httpx.Response(200, content=image)

    return fetched, httpx.MockTransport(answer)


@pytest.mark.parametrize(
    "url",
    [
        "https://gw.example/files/slide.png",  # the upstream's own host
        "https://cdn.example/slide.png",  # allow-listed
        "https://img.cdn.example/slide.png",  # a subdomain of an allowed one
    ],
)
async def test_allowed_public_hosts_are_fetched(url: str) -> None:
    """The upstream's host and allow-listed hosts at public addresses are fetched."""
    fetched, transport = upstream(url)
    async with httpx.AsyncClient(transport=transport) as client:
        result = await provider_for(client).generate(ask())
    assert fetched == [url]
    assert result.width == 1344


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://169.254.169.254/latest/meta-data/", "not the upstream's host"),
        ("https://meta.example/x.png", "link-local"),
        ("http://127.0.0.1:8000/api/images/b/x.png", "not the upstream's host"),
        ("https://elsewhere.example/x.png", "not the upstream's host"),
    ],
)
async def test_forbidden_targets_are_never_fetched(url: str, says: str) -> None:
    """Metadata, loopback and unlisted hosts: refused permanently, nothing is fetched."""
    fetched, transport = upstream(url)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(DownloadRefused, match=says):
            await provider_for(client).generate(ask())
    assert fetched == []


@pytest.mark.parametrize(
    "host", ["local.example", "lan.example", "mapped.example", "ula.example", "mixed.example"]
)
async def test_an_allowed_name_resolving_to_a_private_address_is_refused(host: str) -> None:
    """The check is on the resolved addresses: an allowed name pointing inside is refused."""
    url = f"https://{host}/x.png"
    fetched, transport = upstream(url)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(DownloadRefused, match="address"):
            await provider_for(client, allowed=(host,)).generate(ask())
    assert fetched == []


async def test_every_redirect_hop_is_checked() -> None:
    """An allowed URL redirecting to loopback is refused at the hop; the target is not fetched."""
    start = "https://cdn.example/slide.png"
    hops = {start: "https://local.example/admin", "https://local.example/admin": start}
    fetched, transport = upstream(start, redirects=hops)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(DownloadRefused, match="loopback"):
            await provider_for(client, allowed=("cdn.example", "local.example")).generate(ask())
    assert fetched == [start]


async def test_redirect_loops_are_bounded() -> None:
    """More than max_redirects hops is refused."""
    a, b = "https://cdn.example/a.png", "https://cdn.example/b.png"
    fetched, transport = upstream(a, redirects={a: b, b: a})
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(DownloadRefused, match="redirected more than 5"):
            await provider_for(client).generate(ask())
    assert len(fetched) == 6


async def test_the_allow_list_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """IMAGE_DOWNLOAD_ALLOWED_HOSTS adds hosts to the provider's own."""
    monkeypatch.setenv("IMAGE_DOWNLOAD_ALLOWED_HOSTS", "cdn.example, .img.example")
    settings = load_settings(llm_api_key="sk-test-0123456789", llm_api_base="https://gw.example/v1")
    async with httpx.AsyncClient() as client:
        provider = build_provider(settings, client)
        assert isinstance(provider, OpenRouterProvider)
    assert provider.download_policy.allowed_hosts == {"gw.example", "cdn.example", "img.example"}


class RebindingDNS:
    """A name that answers a public address first and ``then`` on every later lookup."""

    def __init__(self, then: str) -> None:
        self.then = then
        self.lookups = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups += 1
        if host[0].isdigit() or ":" in host:
            return [host]
        return ["93.184.216.40"] if self.lookups == 1 else [self.then]


@pytest.mark.parametrize("then", ["127.0.0.1", "169.254.169.254"])
async def test_dns_rebinding_cannot_redirect_the_connection(then: str) -> None:
    """The connection goes to the address that was checked; the name is never looked up again."""
    dns = RebindingDNS(then)
    reached: list[tuple[str, str, object]] = []
    image = png()

    async def connect(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/chat/completions"):
            return httpx.Response(200, json=chat("https://rebind.example/x.png"))
        # What a real transport does: resolve the URL's host (again) and connect there.
        address = (await dns(request.url.host, 443))[0]
        reached.append((address, request.headers["host"], request.extensions.get("sni_hostname")))
        return httpx.Response(200, content=image)

    policy = OutboundPolicy.for_upstream("https://gw.example/v1", ("rebind.example",), resolver=dns)
    async with httpx.AsyncClient(transport=httpx.MockTransport(connect)) as client:
        provider = OpenRouterProvider(
            client, api_key=KEY, base_url="https://gw.example/v1", model="m", download_policy=policy
        )
        result = await provider.generate(ask())
    assert reached == [("93.184.216.40", "rebind.example", "rebind.example")]
    assert result.width == 1344


async def test_pinned_request_keeps_the_port_and_brackets_ipv6() -> None:
    """A non-default port stays in Host; an IPv6 address is bracketed in the URL."""

    async def six(host: str, port: int) -> list[str]:
        return ["2606:2800:220:1::1"]

    policy = OutboundPolicy(frozenset({"v6.example"}), six)
    pinned = await policy.pin("https://v6.example:8443/a.png?x=1")
    async with httpx.AsyncClient() as client:
        request = pinned.request(client, timeout=5)
    assert str(request.url) == "https://[2606:2800:220:1::1]:8443/a.png?x=1"
    assert request.headers["host"] == "v6.example:8443"
    assert request.extensions["sni_hostname"] == "v6.example"
