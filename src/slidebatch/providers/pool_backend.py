"""httpcore's network backend with a cheap idle-connection check, for the upstream pool.

Whenever a request enters or leaves httpcore's connection pool, the pool asks every idle
connection whether its server closed it (``get_extra_info("is_readable")``). Through anyio
each answer rebuilds the socket's typed-attribute table (``getpeername``, ``getsockname``,
closures) before one ``poll``: about 20 µs. With the in-flight cap's 32 idle connections and
32 requests starting together (a batch's start), that was 32 x 32 checks, 20-25 ms with the
event loop stopped. Here the raw socket is looked up once per connection and the check is
the ``poll`` alone; everything else is the wrapped backend's.
"""

# The methods are httpcore's interface, ``timeout`` parameters included.
# ruff: noqa: ASYNC109

from __future__ import annotations

import select
import ssl
import typing
from collections.abc import Iterable

import httpcore
import httpx

# httpcore's SOCKET_OPTION, spelled out (it is not exported).
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class HasFileno(typing.Protocol):
    """A socket or the event loop's wrapper of one."""

    def fileno(self) -> int: ...


class QuickReadableBackend(httpcore.AsyncNetworkBackend):
    """``inner`` (httpcore's own backend), its streams answering ``is_readable`` cheaply."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self.inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self.inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        return QuickReadableStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self.inner.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options
        )
        return QuickReadableStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class QuickReadableStream(httpcore.AsyncNetworkStream):
    """A connection's stream; ``is_readable`` polls the socket found at the start."""

    def __init__(self, inner: httpcore.AsyncNetworkStream, raw: HasFileno | None = None) -> None:
        self.inner = inner
        # anyio hands out the event loop's wrapper of the socket (asyncio's TransportSocket,
        # uvloop's pseudo-socket), not a socket.socket: all the check needs is its fileno().
        found = raw if raw is not None else inner.get_extra_info("socket")
        self._socket: HasFileno | None = found if hasattr(found, "fileno") else None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self.inner.read(max_bytes, timeout=timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self.inner.write(buffer, timeout=timeout)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        tls = await self.inner.start_tls(ssl_context, server_hostname, timeout)
        return QuickReadableStream(tls, self._socket)  # TLS runs over the same socket

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable" and self._socket is not None:
            return socket_readable(self._socket)
        return self.inner.get_extra_info(info)


def socket_readable(sock: HasFileno) -> bool:
    """Whether ``sock`` has something to read (or was closed) right now; True once closed
    here, as httpcore's own check answers."""
    fd = sock.fileno()
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def install_on_client(client: httpx.AsyncClient) -> int:
    """``install`` on the client's transport and on each proxy's; how many took it."""
    transports = [getattr(client, "_transport", None)]
    transports += list(getattr(client, "_mounts", {}).values())
    return sum(install(t) for t in transports if isinstance(t, httpx.AsyncBaseTransport))


def install(transport: httpx.AsyncBaseTransport) -> bool:
    """Wrap the network backend of ``transport``'s httpcore pool; False when the transport
    is not httpx's own (a test's ``MockTransport``) or its pool has no backend attribute
    (an httpx/httpcore that changed shape: then the pool keeps its own, slower check)."""
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if not isinstance(backend, httpcore.AsyncNetworkBackend):
        return False
    if not isinstance(backend, QuickReadableBackend):
        pool._network_backend = QuickReadableBackend(backend)  # type: ignore[union-attr]
    return True
