"""`python -m switchboard send sms|call ...`: enqueue an outbound request, print its id, optionally wait for it.
`python -m switchboard twilio configure`: point the Twilio number at the app (webhooks, status callback, fallbacks).

    python -m switchboard send sms --to +15558675310 --body "Your order has shipped."
    python -m switchboard send call --to +15558675310 --say "Hello world." --wait
    python -m switchboard send sms --to whatsapp:+15558675310 --from whatsapp:+15005550006 \
        --content-sid HX... --content-variables '{"1": "1234"}'
    python -m switchboard send sms --to +15558675310 --body "See you at 9" --send-at 2027-01-05T08:00:00-05:00
    python -m switchboard cancel <id>                 # before its send starts (DELETE /api/outbound/{id})
    python -m switchboard twilio configure            # TWILIO_PHONE_NUMBER -> PUBLIC_BASE_URL

Storage comes from `--storage` (a connection string), else the `AzureWebJobsStorage` /
`AzureWebJobsStorage__accountName` settings, else `local.settings.json`. `--wait` polls
`GET <api>/api/records/{id}` with a function key (`--api-url`/`SWITCHBOARD_API_URL`,
`--function-key`/`SWITCHBOARD_FUNCTION_KEY`; locally `http://127.0.0.1:7071` and `LOCAL_FUNCTION_KEY`)
until the request reaches a final status, for at most `--wait-timeout` seconds.
Exit status: 0 sent/delivered/completed, 1 any other final status, 2 timed out or unreachable.
`cancel` uses the same API URL and key: 0 canceled, 1 started or finished (its status is printed) or unknown,
2 unreachable.
Storage or the app unreachable, or a key refused: one line on stderr saying what to start or set, within
seconds (bounded timeouts and retries), never a traceback.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from switchboard import client
from switchboard.shared.urls import is_http_url

SUCCESS = frozenset({"sent", "delivered", "completed", "read"})
FINAL = SUCCESS | frozenset(
    {"failed", "rejected", "dead_lettered", "unknown", "busy", "no-answer", "canceled", "undelivered", "expired"}
)
LOCAL_API_URL = "http://127.0.0.1:7071"
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
EXIT_OK, EXIT_FAILED, EXIT_TIMEOUT = 0, 1, 2
# Bounded so that an unreachable stack is reported in seconds: connect 3 s, one retry after 1 s.
CONNECT_TIMEOUT, READ_TIMEOUT, STORAGE_RETRIES, HTTP_TIMEOUT = 3, 5, 1, 5.0
START_LOCAL = "start the local stack with `make run` (Azurite on 127.0.0.1:10001)"


class Unreachable(Exception):
    """A failure to tell the user in one line (what to start or set); exit status 2."""


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m switchboard", description="Switchboard command line.")
    commands = root.add_subparsers(dest="command", required=True)
    send = commands.add_parser("send", help="ask Switchboard to place a call or send an SMS")
    kinds = send.add_subparsers(dest="kind", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--to", required=True, help="E.164 number, e.g. +15558675310 (sms: or whatsapp:+E.164)")
    common.add_argument(
        "--from", dest="from_",
        help="E.164 sender (default: the app's TWILIO_PHONE_NUMBER); sms: also whatsapp:+E.164 or an alphanumeric ID",
    )  # fmt: skip
    common.add_argument("--id", dest="request_id", help="idempotency key (default: a new one)")
    common.add_argument("--storage", help="storage connection string (default: AzureWebJobsStorage)")
    common.add_argument("--queue", default=client.QUEUE_NAME, help="queue name (default: %(default)s)")
    common.add_argument("--settings", type=Path, default=Path("local.settings.json"), help=argparse.SUPPRESS)
    common.add_argument("--wait", action="store_true", help="poll the records API until a final status")
    common.add_argument("--api-url", help=f"the app's base URL (SWITCHBOARD_API_URL; default {LOCAL_API_URL})")
    common.add_argument("--function-key", help="function key for the records API (SWITCHBOARD_FUNCTION_KEY)")
    common.add_argument("--wait-timeout", type=float, default=120.0, help="seconds to wait (default: %(default)s)")
    common.add_argument("--poll-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    timing_arguments(common)

    sms = kinds.add_parser("sms", parents=[common], help="send an SMS")
    sms.add_argument("--body", help="message text (up to 1600 characters)")
    sms.add_argument("--media-url", action="append", help="http(s) URL of media to attach (repeatable)")
    sms.add_argument("--messaging-service-sid", help="send through a Messaging Service (MG...)")
    sms.add_argument("--content-sid", help="a Content template (HX...), instead of --body and --media-url")
    sms.add_argument("--content-variables", type=_json_object, help='the template\'s variables as JSON: \'{"1": "x"}\'')
    sms.add_argument("--validity-period", type=int, help="seconds the message may wait in Twilio's queue (1-36000)")
    sms.add_argument("--max-price", help="the most it may cost, in US dollars (e.g. 0.05)")
    sms.add_argument("--attempt", type=int, help="your own count of attempts at this message (Twilio's Attempt)")
    sms.add_argument("--persistent-action", action="append", help="WhatsApp: a location pin, geo:<lat>,<long>|<label>")
    for flag, what in (("shorten-urls", "shorten links (with --messaging-service-sid)"),
                       ("smart-encoded", "replace Unicode look-alikes with GSM-7"),
                       ("send-as-mms", "deliver as one MMS (SMS only)")):  # fmt: skip
        sms.add_argument(f"--{flag}", action=argparse.BooleanOptionalAction, default=None, help=what)

    call = kinds.add_parser("call", parents=[common], help="place a call")
    content = call.add_mutually_exclusive_group(required=True)
    content.add_argument("--say", help="text to speak")
    content.add_argument("--play", help="http(s) URL of audio to play")
    content.add_argument("--twiml", help="a TwiML document with a <Response> root")
    content.add_argument("--url", help="a URL that answers with TwiML")
    call.add_argument("--voice")
    call.add_argument("--language")
    call.add_argument("--timeout", type=int, help="seconds to let it ring")
    call.add_argument("--machine-detection", choices=["Enable", "DetectMessageEnd"])
    call.add_argument("--record", action="store_true", default=None)

    cancel_parser(commands)
    twilio = commands.add_parser("twilio", help="set up the Twilio side")
    twilio_commands = twilio.add_subparsers(dest="kind", required=True)
    wire = twilio_commands.add_parser(
        "configure", help="point the number's Voice and SMS URLs, call status callback and fallbacks at the app",
        description="Reads TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN (or TWILIO_API_KEY/TWILIO_API_SECRET), "
        "TWILIO_PHONE_NUMBER, PUBLIC_BASE_URL, TWILIO_FALLBACK_BASE_URL and TWILIO_API_BASE_URL from the "
        "environment (azd's hooks pass its environment), else local.settings.json.",
    )  # fmt: skip
    wire.add_argument("--number", help="E.164 number to configure (default TWILIO_PHONE_NUMBER)")
    wire.add_argument("--app-url", help="the app's public origin (default PUBLIC_BASE_URL)")
    wire.add_argument("--fallback-url", help="where the fallback TwiML is served (default TWILIO_FALLBACK_BASE_URL)")
    wire.add_argument("--force", action="store_true", help="overwrite a number whose webhooks point elsewhere")
    wire.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    wire.add_argument("--settings", type=Path, default=Path("local.settings.json"), help=argparse.SUPPRESS)
    return root


def timing_arguments(common: argparse.ArgumentParser) -> None:
    common.add_argument("--send-at", help="send at this time, RFC 3339 with its offset (e.g. 2027-01-05T09:00:00Z)")
    common.add_argument("--expires-at", help="not sent at all after this time (RFC 3339 with its offset)")
    common.add_argument(
        "--quiet-hours", action=argparse.BooleanOptionalAction, default=None,
        help="--no-quiet-hours: send even during the app's quiet hours (urgent)",
    )  # fmt: skip


def cancel_parser(commands: Any) -> None:
    stop = commands.add_parser("cancel", help="cancel a request whose send has not started")
    stop.add_argument("request_id", metavar="id", help="the request id `send` printed")
    stop.add_argument("--api-url", help=f"the app's base URL (SWITCHBOARD_API_URL; default {LOCAL_API_URL})")
    stop.add_argument("--function-key", help="function key (SWITCHBOARD_FUNCTION_KEY)")
    stop.add_argument("--settings", type=Path, default=Path("local.settings.json"), help=argparse.SUPPRESS)


def build_message(args: argparse.Namespace) -> dict[str, Any]:
    common = {"from_": args.from_, "request_id": args.request_id, "send_at": args.send_at,
              "expires_at": args.expires_at, "quiet_hours": args.quiet_hours}  # fmt: skip
    if args.kind == "sms":
        return client.sms_message(
            args.to, body=args.body, media_url=args.media_url,
            messaging_service_sid=args.messaging_service_sid, content_sid=args.content_sid,
            content_variables=args.content_variables, shorten_urls=args.shorten_urls,
            smart_encoded=args.smart_encoded, send_as_mms=args.send_as_mms, max_price=args.max_price,
            persistent_action=args.persistent_action, validity_period=args.validity_period, attempt=args.attempt,
            **common,
        )  # fmt: skip
    return client.call_message(
        args.to, say=args.say, play=args.play, twiml=args.twiml, url=args.url, voice=args.voice,
        language=args.language, timeout=args.timeout, machine_detection=args.machine_detection,
        record=args.record, **common,
    )  # fmt: skip


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError('must be a JSON object, e.g. \'{"1": "1234"}\'') from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('must be a JSON object, e.g. \'{"1": "1234"}\'')
    return value


def local_values(path: Path) -> dict[str, str]:
    try:
        values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in values.items() if v}


def setting(flag: str | None, env: Mapping[str, str], name: str, local: Mapping[str, str], *fallbacks: str) -> str:
    if flag:
        return flag
    for key in (name, *fallbacks):
        if env.get(key):
            return env[key]
    for key in (name, *fallbacks):
        if local.get(key):
            return local[key]
    return ""


def fetch_record(api_url: str, key: str, request_id: str, timeout: float = HTTP_TIMEOUT) -> dict[str, Any] | None:
    """The record as JSON, or None while the app has not recorded the request yet (404)."""
    url = f"{api_url.rstrip('/')}/api/records/{urllib.parse.quote(request_id, safe='')}"
    request = urllib.request.Request(url, headers={"x-functions-key": key, "Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) checked by caller
            record: dict[str, Any] = json.loads(response.read().decode("utf-8"))
            return record
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def wait_for_final(
    fetch: Callable[[], dict[str, Any] | None],
    *,
    timeout: float,
    interval: float,
    out: TextIO,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any] | None:
    """Poll until a final status, for at most `timeout` seconds; a spinner on a terminal, status changes otherwise."""
    started = clock()
    spinner = itertools.cycle(SPINNER)
    interactive = out.isatty()
    last_status: str | None = None
    record: dict[str, Any] | None = None
    while True:
        record = fetch()
        status = str(record.get("status", "")) if record else "waiting to be recorded"
        elapsed = clock() - started
        if interactive:
            out.write(f"\r{next(spinner)} {status} ({elapsed:.0f}s)\033[K")
            out.flush()
        elif status != last_status:
            out.write(f"{status}\n")
            out.flush()
        last_status = status
        if record and status in FINAL:
            break
        if elapsed + interval > timeout:
            record = None
            break
        sleep(interval)
    if interactive:
        out.write("\r\033[K")
        out.flush()
    return record


def main(argv: list[str] | None = None, *, env: Mapping[str, str] | None = None) -> int:
    args = parser().parse_args(argv)
    env = os.environ if env is None else env
    local = local_values(args.settings)
    if args.command == "twilio":
        return configure_number(args, env, local)
    if args.command == "cancel":
        return cancel_request(args, env, local)
    try:
        message = build_message(args)
    except ValueError as invalid:
        print(f"error: {invalid}", file=sys.stderr)
        return EXIT_FAILED
    try:
        request_id = enqueue(args, env, local, message)
    except Unreachable as problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_TIMEOUT
    except ValueError as invalid:
        print(f"error: {invalid}", file=sys.stderr)
        return EXIT_FAILED
    print(request_id, flush=True)
    return wait_and_report(args, env, local, request_id) if args.wait else EXIT_OK


def enqueue(args: argparse.Namespace, env: Mapping[str, str], local: Mapping[str, str], message: dict[str, Any]) -> str:
    storage = setting(args.storage, env, "AzureWebJobsStorage", local)
    if args.storage or not env.get("AzureWebJobsStorage__accountName"):
        if not storage:
            raise ValueError(
                "no storage: pass --storage or set AzureWebJobsStorage (locally: run from the checkout, "
                "where local.settings.json has it, or `make run` first)"
            )
        os.environ["AzureWebJobsStorage"] = storage
    import logging

    from azure.core.exceptions import AzureError
    from azure.storage.queue import LinearRetry

    from switchboard.adapters.storage import StorageConfigError, queue_client

    logging.getLogger("azure").setLevel(logging.CRITICAL)  # the one-line error below says it all
    try:
        queue = queue_client(
            args.queue, connection_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
            retry_policy=LinearRetry(backoff=1, random_jitter_range=0, retry_total=STORAGE_RETRIES),
        )  # fmt: skip
    except StorageConfigError as error:
        raise Unreachable(str(error)) from None
    try:
        return client.enqueue(queue, message)
    except AzureError as error:
        raise Unreachable(storage_problem(error, queue.url, args.queue)) from None


def storage_problem(error: Exception, url: str, queue_name: str) -> str:
    """One line: what went wrong with the queue service, and what to start or set."""
    from urllib.parse import urlsplit

    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

    where = urlsplit(url).netloc or "the storage account"
    code = getattr(error, "error_code", None) or ""
    status = getattr(error, "status_code", None)
    local = where.startswith(("127.0.0.1", "localhost"))
    if isinstance(error, ServiceRequestError):
        hint = START_LOCAL if local else "check AzureWebJobsStorage / --storage and your network"
        return f"cannot reach the queue service at {where}: {hint}"
    if isinstance(error, ClientAuthenticationError) or status in (401, 403):
        if code in ("AuthenticationFailed", "AuthorizationFailure") or status in (401, 403):
            return (
                f"the queue service at {where} refused the credentials ({status} {code}): set the right AccountKey "
                "in AzureWebJobsStorage or --storage (for Azurite: UseDevelopmentStorage=true), or, with "
                "AzureWebJobsStorage__accountName, give your identity the Storage Queue Data Message Sender role"
            )
        return f"no Azure credential for the queue service at {where}: run `az login` or set AzureWebJobsStorage"
    if isinstance(error, HttpResponseError) and code == "QueueNotFound":
        return f"no queue {queue_name!r} at {where}: start the app once (`make run`) so it creates it, or pass --queue"
    return f"the queue service at {where} failed: {type(error).__name__} {status or ''} {code}".rstrip()


def wait_and_report(args: argparse.Namespace, env: Mapping[str, str], local: Mapping[str, str], request_id: str) -> int:
    api_url = setting(args.api_url, env, "SWITCHBOARD_API_URL", local) or LOCAL_API_URL
    key = setting(args.function_key, env, "SWITCHBOARD_FUNCTION_KEY", local, "LOCAL_FUNCTION_KEY")
    if not is_http_url(api_url):
        print(f"error: --api-url must be an http(s) URL, not {api_url!r}", file=sys.stderr)
        return EXIT_TIMEOUT
    try:
        record = wait_for_final(
            lambda: fetch_record(api_url, key, request_id),
            timeout=args.wait_timeout, interval=args.poll_interval, out=sys.stderr,
        )  # fmt: skip
    except urllib.error.HTTPError as error:
        return http_refused(api_url, f"/api/records/{request_id}", error)
    except (urllib.error.URLError, OSError, ValueError) as error:
        return unreachable(api_url, error)
    if record is None:
        print(f"error: no final status within {args.wait_timeout:g}s", file=sys.stderr)
        return EXIT_TIMEOUT
    status = str(record.get("status"))
    detail = " ".join(f"{k}={record[k]}" for k in ("sid", "error_code", "error_message") if record.get(k))
    print(f"{status} {detail}".strip(), flush=True)
    return EXIT_OK if status in SUCCESS else EXIT_FAILED


def cancel_request(args: argparse.Namespace, env: Mapping[str, str], local: Mapping[str, str]) -> int:
    api_url = setting(args.api_url, env, "SWITCHBOARD_API_URL", local) or LOCAL_API_URL
    key = setting(args.function_key, env, "SWITCHBOARD_FUNCTION_KEY", local, "LOCAL_FUNCTION_KEY")
    try:
        status = client.cancel(args.request_id, api_url=api_url, function_key=key, timeout=HTTP_TIMEOUT)
    except client.CancelRefused as refused:
        print(f"error: {refused}", file=sys.stderr)
        print(refused.status, flush=True)
        return EXIT_FAILED
    except (LookupError, ValueError) as refused_id:  # unknown id, or an id the contract refuses
        print(f"error: {refused_id}", file=sys.stderr)
        return EXIT_FAILED
    except urllib.error.HTTPError as error:
        return http_refused(api_url, f"/api/outbound/{args.request_id}", error)
    except (urllib.error.URLError, OSError) as error:
        return unreachable(api_url, error)
    print(status, flush=True)
    return EXIT_OK


def http_refused(api_url: str, path: str, error: urllib.error.HTTPError) -> int:
    """One line on stderr for an HTTP error from the app: a refused key says which setting holds it."""
    if error.code in (401, 403):
        hint = "set SWITCHBOARD_FUNCTION_KEY or --function-key (locally: LOCAL_FUNCTION_KEY)"
        print(f"error: {api_url} refused the function key (HTTP {error.code}): {hint}", file=sys.stderr)
    else:
        print(f"error: {api_url}{path} answered HTTP {error.code}", file=sys.stderr)
    return EXIT_TIMEOUT


def unreachable(api_url: str, error: Exception) -> int:
    reason = getattr(error, "reason", error)
    hint = "start the app with `make run`" if "127.0.0.1" in api_url else "check SWITCHBOARD_API_URL / --api-url"
    print(f"error: cannot reach the app at {api_url} ({reason}): {hint}", file=sys.stderr)
    return EXIT_TIMEOUT


# --- `twilio configure`: the standard library only, so that azd's hook runs it with any Python ---


class TwilioRefused(Exception):
    """Twilio answered an error: status, code and message, for one line on stderr."""


def configure_number(args: argparse.Namespace, env: Mapping[str, str], local: Mapping[str, str]) -> int:  # noqa: PLR0911
    """Read the number, compare it with what the app needs, update what differs; print each change."""
    from switchboard.shared.numberwiring import differences, form, points_elsewhere, wanted

    def value(flag: str | None, name: str) -> str:
        return setting(flag, env, name, local)

    number, app_url = value(args.number, "TWILIO_PHONE_NUMBER"), value(args.app_url, "PUBLIC_BASE_URL")
    missing = [name for name, given in (("TWILIO_PHONE_NUMBER (--number)", number),
                                        ("PUBLIC_BASE_URL (--app-url)", app_url)) if not given]  # fmt: skip
    if missing:
        print(f"error: set {' and '.join(missing)}", file=sys.stderr)
        return EXIT_FAILED
    if not app_url.startswith("https://") and urllib.parse.urlsplit(app_url).hostname not in ("127.0.0.1", "localhost"):
        print(f"error: Twilio needs an https:// URL for the app, not {app_url!r}", file=sys.stderr)
        return EXIT_FAILED
    api = TwilioRest(
        base=value(None, "TWILIO_API_BASE_URL") or "https://api.twilio.com",
        account=value(None, "TWILIO_ACCOUNT_SID"),
        user=value(None, "TWILIO_API_KEY") or value(None, "TWILIO_ACCOUNT_SID"),
        password=value(None, "TWILIO_API_SECRET") or value(None, "TWILIO_AUTH_TOKEN"),
    )
    try:
        live = api.number(number)
        if live is None:
            print(f"error: {number} is not a number of Twilio account {api.account}", file=sys.stderr)
            return EXIT_FAILED
        want = wanted(app_url, value(args.fallback_url, "TWILIO_FALLBACK_BASE_URL") or None)
        changes = differences(live, want)
        elsewhere = points_elsewhere(live, want)
        if elsewhere and not args.force:
            for field in elsewhere:
                print(f"refused: {number}'s {field} is {live[field]}, not this app; --force overwrites it",
                      file=sys.stderr)  # fmt: skip
            return EXIT_FAILED
        if not changes:
            print(f"{number} is already configured for {app_url}")
            return EXIT_OK
        for field, (old, new) in changes.items():
            print(f"{number} {field}: {old or '(unset)'} -> {new}")
        if args.dry_run:
            print("dry run: nothing changed")
            return EXIT_OK
        api.update(str(live["sid"]), form(changes))
    except TwilioRefused as refused:
        print(f"error: {refused}", file=sys.stderr)
        return EXIT_TIMEOUT
    except (urllib.error.URLError, OSError, ValueError) as error:
        print(f"error: cannot reach {api.base} ({getattr(error, 'reason', error)})", file=sys.stderr)
        return EXIT_TIMEOUT
    print(f"configured {number}: {len(changes)} field(s) changed")
    return EXIT_OK


class TwilioRest:
    """Twilio's IncomingPhoneNumbers resource over HTTPS with Basic auth (urllib: no SDK needed)."""

    def __init__(self, *, base: str, account: str, user: str, password: str) -> None:
        from switchboard.shared.urls import is_http_url

        if not is_http_url(base):
            raise ValueError(f"TWILIO_API_BASE_URL must be an http(s) URL, not {base!r}")
        self.base, self.account = base.rstrip("/"), account
        import base64

        self._auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")

    def number(self, phone_number: str) -> dict[str, Any] | None:
        query = urllib.parse.urlencode({"PhoneNumber": phone_number, "PageSize": "2"})
        page = self._call("GET", f"/2010-04-01/Accounts/{self.account}/IncomingPhoneNumbers.json?{query}")
        found = [n for n in page.get("incoming_phone_numbers", []) if n.get("phone_number") == phone_number]
        return found[0] if found else None

    def update(self, sid: str, fields: Mapping[str, str]) -> dict[str, Any]:
        path = f"/2010-04-01/Accounts/{self.account}/IncomingPhoneNumbers/{urllib.parse.quote(sid, safe='')}.json"
        return self._call("POST", path, urllib.parse.urlencode(fields).encode("ascii"))

    def _call(self, method: str, path: str, data: bytes | None = None) -> dict[str, Any]:
        headers = {"Authorization": self._auth, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT * 2) as response:  # noqa: S310 - checked above
                answer: dict[str, Any] = json.loads(response.read().decode("utf-8"))
                return answer
        except urllib.error.HTTPError as error:
            try:
                detail = json.loads(error.read().decode("utf-8"))
            except ValueError:
                detail = {}
            hint = ": check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" if error.code in (401, 403) else ""
            raise TwilioRefused(f"{self.base} answered {error.code} (code {detail.get('code', '?')}: "
                                f"{detail.get('message', error.reason)}){hint}") from None  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
