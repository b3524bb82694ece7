"""Calling a user function the way the host does: trigger argument, output bindings, sync or async."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterable
from typing import Any

import azure.functions as func

from tools.devhost.index import OutputQueue


class Out(func.Out[Any]):
    """The host's value holder for an output binding."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


def call(function: Callable[..., Any], arguments: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(function):
        return asyncio.run(function(**arguments))
    return function(**arguments)


def invoke(
    function: Callable[..., Any],
    trigger_name: str,
    trigger_value: Any,
    outputs: Iterable[OutputQueue],
    send: Callable[[OutputQueue, Any], None],
) -> Any:
    """Run the function; only when it succeeds are its queue outputs sent, as the host does."""
    holders = {output.arg_name: (output, Out()) for output in outputs}
    arguments = {trigger_name: trigger_value} | {name: holder for name, (_, holder) in holders.items()}
    result = call(function, arguments)
    for output, holder in holders.values():
        value = holder.get()
        if value is not None:
            send(output, value)
    return result
