"""Every HTTP route of the real app, read from its own function metadata, so new routes are covered at once."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support import observed

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
    user_function: Callable[..., Any]

    @property
    def anonymous(self) -> bool:
        return self.auth_level.upper() == "ANONYMOUS"

    @property
    def route_params(self) -> dict[str, str]:
        return {name: SAMPLE_VALUES.get(name, "x1") for name in _PARAM.findall(self.route)}

    @property
    def path(self) -> str:
        """The route with sample values in place of its parameters."""
        return "/api/" + _PARAM.sub(lambda m: SAMPLE_VALUES.get(m.group(1), "x1"), self.route).strip("/")

    def call(self, request: Any) -> Any:
        return observed(self.name, self.user_function)(request)

    def __str__(self) -> str:
        return f"{self.name} [{','.join(self.methods)}] /{self.route} ({self.auth_level})"


def http_routes(app: Any = None) -> list[Route]:
    from switchboard.devhost.index import functions_of

    if app is None:
        import function_app

        app = function_app.app
    routes = []
    for function in functions_of(app):
        bindings = json.loads(function.get_function_json())["bindings"]
        trigger = next((b for b in bindings if b["type"] == "httpTrigger"), None)
        if trigger is None:
            continue
        methods = tuple(m.upper() for m in trigger.get("methods") or ALL_METHODS)
        routes.append(
            Route(
                name=function.get_function_name(),
                route=(trigger.get("route") or function.get_function_name()).strip("/"),
                methods=methods,
                auth_level=str(trigger.get("authLevel", "FUNCTION")).upper(),
                user_function=function.get_user_function(),
            )
        )
    return routes


def webhook_routes() -> list[Route]:
    return [route for route in http_routes() if route.anonymous]


def keyed_routes() -> list[Route]:
    return [route for route in http_routes() if not route.anonymous]
