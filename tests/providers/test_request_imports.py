"""An upstream request imports nothing: no search of sys.path at every request."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

import httpx

_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"


class _Lookups:
    """A meta path finder that finds nothing and remembers what was looked for."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        self.names.append(name)
        return None


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(_ANSWER)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the client closed its connection
    finally:
        writer.close()


async def test_upstream_requests_look_up_no_module() -> None:
    """httpcore asks which async library runs at every request through ``import sniffio``
    inside a function; without sniffio installed each request searched every sys.path entry
    for it and failed (4% of the event loop under ``bench --load``). sniffio is a dependency."""
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    lookups = _Lookups()
    async with server, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert (await client.get("/warm")).status_code == 200
        sys.meta_path.insert(0, lookups)
        try:
            for _ in range(3):
                assert (await client.get("/")).json() == {}
        finally:
            sys.meta_path.remove(lookups)
    assert lookups.names == []
