"""The upstream pool's network backend: the same connections, a cheaper idle check."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpcore
import httpx
import pytest

from slidebatch.config import Settings
from slidebatch.providers.pool_backend import (
    QuickReadableBackend,
    QuickReadableStream,
    install,
    install_on_client,
    socket_readable,
)
from slidebatch.providers.registry import make_http_client

_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


def test_the_upstream_client_uses_the_quick_backend() -> None:
    """``make_http_client`` wraps its pool's backend (an httpx that changes shape fails here)."""
    client = make_http_client(Settings(_env_file=None))
    backend = client._transport._pool._network_backend  # type: ignore[attr-defined]
    assert isinstance(backend, QuickReadableBackend)
    assert install_on_client(client) == 1  # installing again wraps nothing twice
    assert not isinstance(backend.inner, QuickReadableBackend)


def test_a_mock_transport_is_left_alone() -> None:
    """A transport without an httpcore pool (tests' ``MockTransport``) is not touched."""
    assert install(httpx.MockTransport(lambda request: httpx.Response(200))) is False


def test_readable_means_data_or_a_closed_peer() -> None:
    """An idle socket is not readable; one whose peer closed is; a closed one counts too."""
    ours, theirs = socket.socketpair()
    try:
        assert socket_readable(ours) is False
        theirs.close()
        assert socket_readable(ours) is True
    finally:
        ours.close()
    assert socket_readable(ours) is True


class _LoopSocket:
    """What anyio gives for ``"socket"`` on asyncio or uvloop: a wrapper, not a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def fileno(self) -> int:
        return self._sock.fileno()


class _Stream(httpcore.AsyncNetworkStream):
    """A connection's stream whose own ``is_readable`` must not be asked."""

    def __init__(self, sock: socket.socket) -> None:
        self.raw = _LoopSocket(sock)

    def get_extra_info(self, info: str) -> Any:
        assert info == "socket", f"the wrapped stream was asked {info!r}"
        return self.raw


def test_the_check_polls_the_loops_socket_wrapper_itself() -> None:
    """``is_readable`` is answered from the wrapper's fileno, never by the inner stream."""
    ours, theirs = socket.socketpair()
    try:
        stream = QuickReadableStream(_Stream(ours))
        assert stream.get_extra_info("is_readable") is False
        theirs.close()
        assert stream.get_extra_info("is_readable") is True
    finally:
        ours.close()


async def test_a_real_connection_is_checked_by_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On the running loop, a connection's stream found its socket (the quick path)."""
    streams: list[QuickReadableStream] = []
    real = QuickReadableStream.__init__

    def keep(self: QuickReadableStream, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **kwargs)
        streams.append(self)

    monkeypatch.setattr(QuickReadableStream, "__init__", keep)
    await test_an_idle_connection_is_reused_through_the_backend()
    assert streams
    assert all(stream._socket is not None for stream in streams)


async def test_an_idle_connection_is_reused_through_the_backend() -> None:
    """Two requests in a row go over one connection: reads and writes pass through and a
    live idle connection is not taken for one the server closed."""
    accepted = 0
    ended = asyncio.Event()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(_ANSWER)
                await writer.drain()
        except asyncio.IncompleteReadError:  # the client closed the connection
            pass
        finally:
            writer.close()
            await writer.wait_closed()
            ended.set()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = httpx.AsyncHTTPTransport()
    assert install(transport)
    try:
        async with httpx.AsyncClient(transport=transport) as client:
            for _ in range(2):
                response = await client.get(f"http://127.0.0.1:{port}/")
                assert response.text == "ok"
        await ended.wait()  # the client's close reached the server: nothing left open
    finally:
        server.close()
        await server.wait_closed()
    assert accepted == 1
