"""The local host itself: the app's HTTP functions and queue listeners, started and stopped together."""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import azure.functions as func

from switchboard.adapters.storage import queue_client
from tools.devhost.hostconfig import HostConfig
from tools.devhost.index import HttpFunction, OutputQueue, QueueFunction, index, timers_of
from tools.devhost.queues import QueueListener, create_if_missing, encode
from tools.devhost.server import LocalHttpServer
from tools.devhost.timers import TimerRunner
from tools.localmachine import LOOPBACK, PROJECT_ROOT

log = logging.getLogger("tools.devhost")
BANNER = "Switchboard local host: a development and test tool, NOT the Azure Functions host."


def load_app(module: str = "function_app") -> func.FunctionApp:
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    app = importlib.import_module(module).app
    if not isinstance(app, func.FunctionApp):
        raise TypeError(f"{module}.app is not a FunctionApp")
    return app


class LocalHost:
    def __init__(
        self,
        app: func.FunctionApp,
        *,
        port: int = 7071,
        host_json: Path = PROJECT_ROOT / "host.json",
        function_keys: tuple[str, ...] = (),
        queues: bool = True,
        config_overrides: Mapping[str, Any] | None = None,
        provision: bool = False,
    ) -> None:
        config = HostConfig.load(host_json)
        if config_overrides:
            from dataclasses import replace

            config = replace(config, queues=replace(config.queues, **config_overrides))
        self.config = config
        self.http_functions, self.queue_functions = index(app)
        self.stop_event = threading.Event()
        self._output_clients: dict[tuple[str, str], Any] = {}
        self._output_lock = threading.Lock()
        self.server = LocalHttpServer(
            (LOOPBACK, port), self.http_functions, config.route_prefix, function_keys, self.send_output
        )
        self.listeners = (
            [QueueListener(f, config.queues, self.send_output, self.stop_event) for f in self.queue_functions]
            if queues
            else []
        )
        # Timers run beside the queue listeners: both are background work a dev run can turn off.
        self.timers = [TimerRunner(t, self.send_output, self.stop_event) for t in timers_of(app)] if queues else []
        self._threads: list[threading.Thread] = []
        self.provision = provision

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def base_url(self) -> str:
        prefix = f"/{self.config.route_prefix}" if self.config.route_prefix else ""
        return f"http://{LOOPBACK}:{self.port}{prefix}"

    def send_output(self, output: OutputQueue, value: Any) -> None:
        key = (output.connection, output.queue_name)
        with self._output_lock:
            client = self._output_clients.get(key)
            if client is None:
                client = self._output_clients[key] = queue_client(
                    output.queue_name, connection=output.connection, base64=False
                )
                create_if_missing(client)  # the host creates output queues too
        for item in value if isinstance(value, list) else [value]:
            client.send_message(encode(item, self.config.queues.message_encoding))

    def start(self) -> LocalHost:
        if self.provision:
            provision_storage()
        self._threads = [self.server.serve_in_thread()] + [listener.start() for listener in self.listeners]
        self._threads += [timer.start() for timer in self.timers]
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()
        for thread in self._threads:
            thread.join(timeout=15)

    def describe(self) -> list[str]:
        lines = []
        for function in self.http_functions:
            methods = ",".join(sorted(function.methods)) if function.methods else "ANY"
            key = "  (function key)" if function.needs_key else ""
            lines.append(f"  {function.name}: [{methods}] {self.base_url}/{function.route}{key}")
        for queue_function in self.queue_functions:
            lines.append(f"  {queue_function.name}: queue trigger on '{queue_function.queue_name}'")
        for timer in self.timers:
            lines.append(f"  {timer.function.name}: timer '{timer.function.schedule}' (UTC)")
        return lines

    def __enter__(self) -> LocalHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def provision_storage() -> list[str]:
    """Create every queue, table and container the app uses (switchboard.adapters.inventory), as infra/ does in Azure.

    Without this the app would find its tables only after its first write, and /api/health would say so.
    Best effort: a storage problem is logged, and /api/health reports it in detail.
    """
    from azure.core.exceptions import ResourceExistsError

    from switchboard.adapters.inventory import storage_names
    from switchboard.adapters.storage import blob_service_client, table_client
    from switchboard.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError:
        settings = Settings(account_sid="", auth_token="")  # the default names, still worth creating
    names = storage_names(settings)
    creators: list[tuple[str, Callable[[], object]]] = [
        (f"queue {n}", queue_client(n).create_queue) for n in names.queues
    ]
    creators += [(f"table {n}", table_client(n).create_table) for n in names.tables]
    creators += [(f"container {n}", blob_service_client().get_container_client(n).create_container)
                 for n in names.containers]  # fmt: skip
    created = []
    for what, create in creators:
        try:
            create()
            created.append(what)
        except ResourceExistsError:
            pass
        except Exception as error:
            log.warning("Could not create %s: %s", what, error)
    return created


__all__ = [
    "BANNER",
    "HttpFunction",
    "LocalHost",
    "QueueFunction",
    "load_app",
    "provision_storage",
]
