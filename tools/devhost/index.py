"""The app's functions, as the host sees them: triggers, routes, auth levels, output bindings."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import azure.functions as func

_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(\?)?(?::[^}]*)?\}")


@dataclass(frozen=True)
class OutputQueue:
    arg_name: str
    queue_name: str
    connection: str


@dataclass(frozen=True)
class HttpFunction:
    name: str
    route: str
    methods: frozenset[str] | None
    auth_level: str
    pattern: re.Pattern[str]
    user_function: Callable[..., Any]
    arg_name: str = "req"
    outputs: tuple[OutputQueue, ...] = ()

    @property
    def needs_key(self) -> bool:
        return self.auth_level.upper() != "ANONYMOUS"

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        if not found:
            return None
        # The Functions host hands route values decoded (`records/order-1%3Ashipped` -> `order-1:shipped`).
        return {key: unquote(value) for key, value in found.groupdict().items() if value is not None}

    @property
    def specificity(self) -> tuple[int, int]:
        # Literal routes win over templated ones, as in ASP.NET routing.
        return (self.route.count("{"), -len(self.route))


@dataclass(frozen=True)
class QueueFunction:
    name: str
    queue_name: str
    connection: str
    arg_name: str
    user_function: Callable[..., Any]
    outputs: tuple[OutputQueue, ...] = field(default=())


@dataclass(frozen=True)
class TimerFunction:
    name: str
    schedule: str
    run_on_startup: bool
    arg_name: str
    user_function: Callable[..., Any]
    outputs: tuple[OutputQueue, ...] = field(default=())


def route_pattern(route: str) -> re.Pattern[str]:
    """Functions route templates: `{id}`, optional `{id?}`, constrained `{id:int}`, catch-all `{*rest}`."""
    out, position = [], 0
    for match in _PARAM.finditer(route):
        out.append(re.escape(route[position : match.start()]))
        catch_all, name, optional = match.groups()
        body = f"(?P<{name}>{'.*' if catch_all else '[^/]+'})"
        if optional or catch_all:
            if out and out[-1].endswith("/"):
                out[-1] = out[-1][:-1]
                body = f"(?:/{body})?"
            else:
                body += "?"
        out.append(body)
        position = match.end()
    out.append(re.escape(route[position:]))
    return re.compile("".join(out), re.IGNORECASE)


_indexed: dict[int, tuple[func.FunctionApp, list[Any]]] = {}


def functions_of(app: func.FunctionApp) -> list[Any]:
    """`app.get_functions()`, once per app: azure-functions refuses a second indexing of the same app."""
    cached = _indexed.get(id(app))
    if cached is None or cached[0] is not app:
        cached = _indexed[id(app)] = (app, list(app.get_functions()))
    return cached[1]


def index(app: func.FunctionApp) -> tuple[list[HttpFunction], list[QueueFunction]]:
    http: list[HttpFunction] = []
    queues: list[QueueFunction] = []
    for function in functions_of(app):
        bindings = json.loads(function.get_function_json())["bindings"]
        outputs = tuple(
            OutputQueue(b["name"], b["queueName"], b.get("connection") or "AzureWebJobsStorage")
            for b in bindings
            if b["type"] == "queue" and b["direction"].upper() == "OUT"
        )
        trigger = next(b for b in bindings if b["type"].endswith("Trigger"))
        name = function.get_function_name()
        if trigger["type"] == "httpTrigger":
            route = (trigger.get("route") or name).strip("/")
            methods = trigger.get("methods")
            http.append(
                HttpFunction(
                    name=name,
                    route=route,
                    methods=frozenset(m.upper() for m in methods) if methods else None,
                    auth_level=str(trigger.get("authLevel", "FUNCTION")),
                    pattern=route_pattern(route),
                    user_function=function.get_user_function(),
                    arg_name=trigger["name"],
                    outputs=outputs,
                )
            )
        elif trigger["type"] == "queueTrigger":
            queues.append(
                QueueFunction(
                    name=name,
                    queue_name=trigger["queueName"],
                    connection=trigger.get("connection") or "AzureWebJobsStorage",
                    arg_name=trigger["name"],
                    user_function=function.get_user_function(),
                    outputs=outputs,
                )
            )
    http.sort(key=lambda f: f.specificity)
    return http, queues


def timers_of(app: func.FunctionApp) -> list[TimerFunction]:
    """The app's timer triggers (NCRONTAB schedules)."""
    timers = []
    for function in functions_of(app):
        bindings = json.loads(function.get_function_json())["bindings"]
        trigger = next((b for b in bindings if b["type"] == "timerTrigger"), None)
        if trigger is None:
            continue
        outputs = tuple(
            OutputQueue(b["name"], b["queueName"], b.get("connection") or "AzureWebJobsStorage")
            for b in bindings
            if b["type"] == "queue" and b["direction"].upper() == "OUT"
        )
        timers.append(
            TimerFunction(
                name=function.get_function_name(),
                schedule=str(trigger["schedule"]),
                run_on_startup=bool(trigger.get("runOnStartup")),
                arg_name=trigger["name"],
                user_function=function.get_user_function(),
                outputs=outputs,
            )
        )
    return timers
