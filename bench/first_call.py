"""Run in a fresh interpreter: how long the first invocation of each heavy path takes.

`python -m bench.first_call webhooks` prints one JSON line of milliseconds:
importing the app, indexing it, then the first and second call of each webhook.
`python -m bench.first_call outbound` does the same for the first outbound sends
(the environment must point at a Twilio emulator and Azurite).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any


def _ms(start: int) -> float:
    return (time.perf_counter_ns() - start) / 1e6


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter_ns()
    action()
    return _ms(start)


def webhooks() -> dict[str, float]:
    result: dict[str, float] = {}
    start = time.perf_counter_ns()
    import function_app

    result["import_app_ms"] = _ms(start)
    # Only now: the payload helpers import the SDK pieces the app is meant to defer.
    from bench.payloads import APP_ENV, webhooks

    os.environ.update(APP_ENV)
    start = time.perf_counter_ns()
    from tools.devhost.index import functions_of

    by_name = {f.get_function_name(): f.get_user_function() for f in functions_of(function_app.app)}
    result["index_ms"] = _ms(start)
    for number, hook in enumerate(webhooks()):
        handler = by_name[hook.function]
        first, second = hook.http_request(), hook.http_request()
        result[f"first_{hook.function}_ms"] = timed(lambda h=handler, r=first: _ok(h(r)))  # type: ignore[misc]
        result[f"second_{hook.function}_ms"] = timed(lambda h=handler, r=second: _ok(h(r)))  # type: ignore[misc]
        if number == 0:
            result["first_webhook_total_ms"] = (
                result["import_app_ms"] + result["index_ms"] + result[f"first_{hook.function}_ms"]
            )
    return result


def outbound() -> dict[str, float]:
    from bench.worker import first_sends

    return first_sends()


def _ok(response: Any) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"webhook answered {response.status_code}: {response.get_body()!r}")


def main(argv: list[str]) -> int:
    which = argv[1] if len(argv) > 1 else "webhooks"
    result = webhooks() if which == "webhooks" else outbound()
    print(json.dumps({key: round(value, 3) for key, value in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
