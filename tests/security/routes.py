"""Every HTTP route of the real app, read from its own function metadata, so new routes are covered at once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.support import observed
from tools.devhost.index import HttpFunction

ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_PARAM = re.compile(r"\{\*?([A-Za-z_][A-Za-z0-9_]*)\??(?::[^}]*)?\}")
# A plausible value for each route parameter name; anything else gets "x1".
SAMPLE_VALUES = {"name": "message", "id": "req-0001", "sid": "SM" + "0" * 32, "kind": "sms"}


@dataclass(frozen=True)
class Route:
    name: str
    route: str
    methods: tuple[str, ...]
    auth_level: str
    function: HttpFunction

    @property
    def anonymous(self) -> bool:
        return self.auth_level.upper() == "ANONYMOUS"

    @property
    def reads_body(self) -> bool:
        return any(method in ("POST", "PUT", "PATCH") for method in self.methods)

    @property
    def route_params(self) -> dict[str, str]:
        return {name: SAMPLE_VALUES.get(name, "x1") for name in _PARAM.findall(self.route)}

    @property
    def path(self) -> str:
        """The route with sample values in place of its parameters."""
        return "/api/" + _PARAM.sub(lambda m: SAMPLE_VALUES.get(m.group(1), "x1"), self.route).strip("/")

    def call(self, request: Any, sent: list[Any] | None = None) -> Any:
        """Call the function as the host does (output bindings included); queue outputs land in `sent`."""
        from tools.devhost.invoke import invoke

        def send(output: Any, value: Any) -> None:
            (sent if sent is not None else []).append((output.queue_name, value))

        def run(req: Any) -> Any:
            return invoke(self.function.user_function, self.function.arg_name, req, self.function.outputs, send)

        return observed(self.name, run)(request)

    def __str__(self) -> str:
        return f"{self.name} [{','.join(self.methods)}] /{self.route} ({self.auth_level})"


def http_routes(app: Any = None) -> list[Route]:
    from tools.devhost.index import index

    if app is None:
        import function_app

        app = function_app.app
    return [
        Route(f.name, f.route, tuple(sorted(f.methods or ALL_METHODS)), f.auth_level.upper(), f) for f in index(app)[0]
    ]


def webhook_routes() -> list[Route]:
    return [route for route in http_routes() if route.anonymous]


def keyed_routes() -> list[Route]:
    return [route for route in http_routes() if not route.anonymous]
