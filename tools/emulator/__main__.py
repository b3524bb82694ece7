"""`python -m tools.emulator`: serve the Twilio emulator, or play an inbound call or SMS against the app.

python -m tools.emulator [serve] [--port 4011]
python -m tools.emulator call --to +15005550006 --from +15558675310 --digits 1 [--url URL]
python -m tools.emulator sms --to +15005550006 --from +15558675310 --body HELP [--url URL]
"""

from __future__ import annotations

import argparse
import datetime
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from tools.localmachine import PROJECT_ROOT

if TYPE_CHECKING:
    from tools.emulator.recordings import RemoteMedia

DEFAULT_PORT = 4011
DEFAULT_APP = "http://127.0.0.1:7071"
DEFAULT_CALLER = "+15558675310"
COMMANDS = ("serve", "call", "sms")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(_with_command(sys.argv[1:] if argv is None else argv))
    from switchboard.settings import Settings
    from tools.localmachine import load_local_settings

    load_local_settings(args.settings)
    settings = Settings.from_env()
    if args.command == "serve":
        return serve(args, settings)
    token = args.auth_token or settings.auth_token
    to = args.to or settings.phone_number
    if not to:
        print("error: give --to (or set TWILIO_PHONE_NUMBER)", file=sys.stderr)
        return 2
    app = settings.public_base_url or DEFAULT_APP
    if args.command == "call":
        return play_call(args, settings.account_sid, token, to, args.url or f"{app}/api/voice/incoming")
    return send_sms(args, settings.account_sid, token, to, args.url or f"{app}/api/sms/incoming")


def _with_command(argv: list[str]) -> list[str]:
    if argv and argv[0] in (*COMMANDS, "-h", "--help"):
        return argv
    return ["serve", *argv]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.emulator", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve Twilio's REST API on 127.0.0.1 (the default)")
    serve_parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve_parser.add_argument(
        "--clock",
        type=_moment,
        metavar="TIME",
        help="start the emulator's clock at this RFC 3339 time (e.g. 2027-01-12T22:30:00-05:00)",
    )
    serve_parser.add_argument("--rate-calls", type=float, default=0, help="calls created per second before 429")
    serve_parser.add_argument("--rate-messages", type=float, default=0, help="messages per second before 429")
    serve_parser.add_argument("--slow-answer-seconds", type=float, default=2.0)
    serve_parser.add_argument("--callback-order", choices=("twilio", "reverse", "shuffle"), default="twilio")
    serve_parser.add_argument("--duplicate-callbacks", type=float, default=0.0, metavar="P")
    serve_parser.add_argument("--pace", type=float, default=0.0, metavar="R",
                              help="real seconds per simulated call second (0: instant, 1: real time)")  # fmt: skip
    serve_parser.add_argument("--concurrency", type=int, default=0, metavar="N",
                              help="REST requests in flight before 429 (API concurrency; 0: none)")  # fmt: skip
    serve_parser.add_argument("--message-rate", type=float, default=0, metavar="R",
                              help="segments per second per sender; faster ones wait queued (0: none)")  # fmt: skip
    serve_parser.add_argument("--call-rate", type=float, default=0, metavar="R",
                              help="calls per second per account; faster ones wait queued (0: none)")  # fmt: skip
    serve_parser.add_argument("--message-queue-limit", type=int, default=0, metavar="N",
                              help="queued segments per sender before 21611 (0: 4 h at the rate)")  # fmt: skip
    call_parser = commands.add_parser("call", help="play an inbound call and print what the caller hears")
    call_parser.add_argument("--digits", action="append", default=[], help="keys for the next <Gather> (repeatable)")
    call_parser.add_argument("--dial", action="append", default=[], metavar="NUMBER=STATUS",
                             help="outcome of a <Dial> to NUMBER: completed, busy, no-answer, failed")  # fmt: skip
    call_parser.add_argument("--method", choices=("GET", "POST"), default="POST")
    sms_parser = commands.add_parser("sms", help="send an inbound SMS webhook and print the replies")
    sms_parser.add_argument("--body", required=True)
    sms_parser.add_argument("--opt-out-type", choices=("STOP", "START", "HELP"),
                            help="add OptOutType, as Twilio's Advanced Opt-Out does for a keyword message")  # fmt: skip
    for sub in (serve_parser, call_parser, sms_parser):
        sub.add_argument("--settings", type=Path, default=PROJECT_ROOT / "local.settings.json")
    for sub in (call_parser, sms_parser):
        sub.add_argument("--to", help="our number (default TWILIO_PHONE_NUMBER)")
        sub.add_argument("--from", dest="from_", default=DEFAULT_CALLER, help="the caller's number")
        sub.add_argument("--url", help="the webhook (default PUBLIC_BASE_URL + /api/voice|sms/incoming)")
        sub.add_argument("--auth-token", help="sign with this token instead of TWILIO_AUTH_TOKEN")
    return parser


def _moment(text: str) -> datetime.datetime:
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError("must be an RFC 3339 time, e.g. 2027-01-12T22:30:00-05:00") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("needs its UTC offset (Z or ±HH:MM)")
    return moment


def serve(args: argparse.Namespace, settings: object) -> int:
    from tools.emulator.progress import CallbackPlan, Simulator
    from tools.emulator.rest import TwilioEmulator

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from switchboard.shared.logs import install

    install(getattr(settings, "secrets", ()))
    from tools.emulator.sendqueue import SendPacing

    emulator = TwilioEmulator.from_settings(settings, port=args.port)
    if args.clock is not None:  # runs on from that moment: a scheduled message is sent at its SendAt by it
        emulator.clock.freeze(args.clock)
        emulator.clock.thaw()
    emulator.send_queues.pacing = SendPacing(
        message_rate=args.message_rate or None, call_rate=args.call_rate or None,
        message_queue_limit=args.message_queue_limit or None,
    )  # fmt: skip
    emulator.rate_limits = {k: v for k, v in (("calls", args.rate_calls), ("messages", args.rate_messages)) if v}
    emulator.concurrency = args.concurrency or None
    plan = CallbackPlan(duplicates=args.duplicate_callbacks, order=args.callback_order)
    simulator = Simulator(emulator, slow_answer_seconds=args.slow_answer_seconds, plan=plan, pace=args.pace)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    emulator.start()
    print(f"Twilio emulator (not Twilio: nothing reaches a phone) on {emulator.base_url}", flush=True)
    print(f"  account {emulator.account_sid}; status callbacks and TwiML fetches go to the URLs given", flush=True)
    try:
        stopped.wait()
    finally:
        simulator.close()
        emulator.stop()
    return 0


def play_call(args: argparse.Namespace, account_sid: str, token: str, to: str, url: str) -> int:
    from tools.emulator.callflow import DialOutcome
    from tools.emulator.inbound import inbound_call

    dial = {number: DialOutcome(status) for number, _, status in (d.partition("=") for d in args.dial)}
    digits = tuple(part for value in args.digits for part in value.split(","))
    print(f"Calling {url} as {args.from_} -> {to}", flush=True)
    call_sid, result = inbound_call(
        url, account_sid=account_sid, auth_token=token, to=to, from_=args.from_, digits=digits, dial=dial,
        method=args.method, media=_running_emulator(account_sid, token),
    )  # fmt: skip
    for line in result.transcript:
        print(f"  {line}")
    print(f"Call {call_sid} ended: {result.status} after {result.seconds}s", flush=True)
    return 1 if result.errors else 0


def _running_emulator(account_sid: str, token: str) -> RemoteMedia | None:
    """The emulator TWILIO_API_BASE_URL names on this machine: a `<Record>` leaves its Recording there."""
    import os
    from urllib.parse import urlsplit

    from tools.emulator.recordings import RemoteMedia as Remote

    base = os.environ.get("TWILIO_API_BASE_URL", "")
    return Remote(base, account_sid, token) if urlsplit(base).hostname in ("127.0.0.1", "localhost") else None


def send_sms(args: argparse.Namespace, account_sid: str, token: str, to: str, url: str) -> int:
    from tools.emulator.inbound import inbound_sms

    print(f"Texting {url} as {args.from_} -> {to}: {args.body!r}", flush=True)
    result = inbound_sms(url, account_sid=account_sid, auth_token=token, to=to, from_=args.from_, body=args.body,
                         opt_out_type=args.opt_out_type)  # fmt: skip
    if result.error:
        print(f"  [error 11200] {result.error}", flush=True)
        return 1
    for reply in result.replies:
        print(f"  Reply to {reply.to} from {reply.from_}: {reply.body}", *reply.media, flush=True)
    if not result.replies:
        print("  (no reply)", flush=True)
    if result.redirect:
        print(f"  Redirect: {result.redirect} (not followed)", flush=True)
    print(f"Message {result.message_sid}: webhook answered {result.status}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
