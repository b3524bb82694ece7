"""A latency-injecting TCP proxy on 127.0.0.1: every chunk waits `delay` seconds each way before it is passed on.

Loopback round trips cost microseconds, so a TLS handshake (two round trips before the first byte) is
nearly free there, and reusing clients shows no gain. This kernel has no `netem`; so the benchmark
puts one of these between the clients and each TLS endpoint (Azurite's table service, the Twilio
emulator), and every round trip, the handshakes' included, then costs about 2 x delay, as a
connection over a network would. Bytes are passed through untouched (TLS ends at the servers).

Started in a thread with its own event loop, stopped cleanly: the listener closes, open connections
are closed, the thread is joined.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Iterator

LOOPBACK = "127.0.0.1"
CHUNK = 65536


class LatencyProxy:
    def __init__(self, target_port: int, delay: float = 0.02) -> None:
        if delay < 0:
            raise ValueError("delay is seconds, 0 or more")
        self.target_port = target_port
        self.delay = delay
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"latency-proxy-{target_port}", daemon=True)
        self.port = 0

    def start(self) -> LatencyProxy:
        self._thread.start()
        if not self._ready.wait(timeout=10) or not self.port:
            raise RuntimeError("the latency proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> LatencyProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._accept, LOOPBACK, 0))
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._ready.set()
        self._loop.run_forever()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(LOOPBACK, self.target_port)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer))
        except (asyncio.CancelledError, ConnectionError):
            pass
        finally:
            for writer in (client_writer, server_writer):
                writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Pass what `reader` gives to `writer`, each chunk `delay` after it arrived, in order."""
        loop = asyncio.get_running_loop()
        due: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                moment, data = await due.get()
                wait = moment - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        with contextlib.suppress(OSError):
                            writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                data = await reader.read(CHUNK)
                await due.put((loop.time() + self.delay, data))
                if not data:
                    break
            await sender
        finally:
            sender.cancel()


def proxied_connection_string(connection_string: str, ports: dict[int, int]) -> str:
    """The connection string with each endpoint's port replaced by its proxy's (`ports`: server -> proxy)."""

    def swap(match: re.Match[str]) -> str:
        port = int(match[2])
        return f"{match[1]}{ports.get(port, port)}"

    return re.sub(r"(https?://127\.0\.0\.1:)(\d+)", swap, connection_string)


@contextlib.contextmanager
def proxies(ports: list[int], delay: float) -> Iterator[dict[int, LatencyProxy]]:
    started: dict[int, LatencyProxy] = {}
    try:
        for port in ports:
            started[port] = LatencyProxy(port, delay).start()
        yield started
    finally:
        for proxy in started.values():
            proxy.stop()
