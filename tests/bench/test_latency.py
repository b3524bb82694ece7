"""The benchmark's latency proxy: bytes pass untouched, each way late by its delay, and it stops cleanly."""

from __future__ import annotations

import socket
import socketserver
import threading
import time

from bench.latency import LatencyProxy, proxied_connection_string


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


def test_a_round_trip_through_the_proxy_takes_twice_its_delay_and_keeps_the_bytes() -> None:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with LatencyProxy(server.server_address[1], delay=0.02) as proxy:
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as conn:
                payload = bytes(range(256)) * 400  # 100 KiB: more than one chunk
                times = []
                for _ in range(3):
                    start = time.perf_counter()
                    conn.sendall(payload)
                    received = b""
                    while len(received) < len(payload):
                        received += conn.recv(65536)
                    times.append(time.perf_counter() - start)
                    assert received == payload
            assert min(times) >= 0.04
            assert proxy.connections == 1
        assert not proxy._thread.is_alive()
        assert not any(t.name.startswith("latency-proxy") for t in threading.enumerate())
    finally:
        server.shutdown()
        server.server_close()


def test_connection_strings_point_at_the_proxies() -> None:
    given = (
        "DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;AccountKey=k;"
        "BlobEndpoint=https://127.0.0.1:1001/devstoreaccount1;QueueEndpoint=https://127.0.0.1:1002/devstoreaccount1;"
        "TableEndpoint=https://127.0.0.1:1003/devstoreaccount1;"
    )
    swapped = proxied_connection_string(given, {1003: 2003, 1002: 2002})
    assert "TableEndpoint=https://127.0.0.1:2003/" in swapped
    assert "QueueEndpoint=https://127.0.0.1:2002/" in swapped
    assert "BlobEndpoint=https://127.0.0.1:1001/" in swapped
