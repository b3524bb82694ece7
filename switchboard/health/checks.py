"""What `GET /api/health` checks: settings, the public URL, storage, and the Twilio credentials.

Each check answers ok or the problem in words that say what to fix, never a value that could be a
secret. Storage and Twilio are asked in parallel with short timeouts, under one overall deadline, so a
hung dependency makes the answer "no answer within N s" rather than a hung health check.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from switchboard.adapters.inventory import StorageNames, storage_names
from switchboard.settings import Settings, SettingsError, setting_problems

log = logging.getLogger("switchboard.health.checks")

DEADLINE_SECONDS = 10.0
TWILIO_TIMEOUT_SECONDS = 5.0
# No retries and short timeouts: the health check reports, it does not try hard.
STORAGE_OPTIONS: dict[str, Any] = {"retry_total": 0, "connection_timeout": 3, "read_timeout": 5}
DEFAULT_PORTS = {"http": 80, "https": 443}
TWILIO_CHECKS = ("twilio", "twilio_number")
# The sender check (issue 24): a US long code whose recent SMS failed with 30034 is not registered for A2P 10DLC.
SENDER_CHECK = "sender"
UNREGISTERED_10DLC = "30034"
RECENT_SENDS = 50  # the newest records of the last RECENT_HOURS read for it
RECENT_HOURS = 24
TOLL_FREE_AREA_CODES = frozenset({"800", "833", "844", "855", "866", "877", "888"})


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # ok, but worth a look: listed under `warnings`, never failing the health check
    # A storage probe's, not in the JSON: the service answered (proving it reachable), or why it did not.
    reached: bool = False
    unreachable: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "warning" if self.warning else "detail" if self.ok else "problem": self.detail}


@dataclass(frozen=True)
class Origin:
    """The scheme and host a request arrived at, as the client (Twilio, a browser) addressed it."""

    scheme: str
    host: str

    @classmethod
    def of_request(cls, url: str, headers: Mapping[str, str]) -> Origin:
        lower = {key.lower(): value for key, value in headers.items()}
        seen = urlsplit(url)
        scheme = _first(lower.get("x-forwarded-proto")) or seen.scheme
        host = _first(lower.get("x-forwarded-host")) or seen.netloc or lower.get("host", "")
        return cls(scheme.lower(), host.lower())

    def same_host(self, url: str) -> bool:
        """Host and port, a scheme's default port counting as none: TLS may end before the app."""
        parts = urlsplit(url)
        return _host_port(self.scheme, self.host) == _host_port(parts.scheme, parts.netloc.lower())


def run(env: Mapping[str, str], origin: Origin) -> tuple[int, dict[str, Any]]:
    """All the checks. Returns the HTTP status (200 or 503) and the JSON body."""
    checks, settings = settings_checks(env)
    checks.append(public_url_check(env, origin))
    probes: dict[str, Callable[[], Check]] = {}
    names = storage_names(settings or _defaults())
    storage = StorageProbe(names)
    probes.update(storage.probes())
    if settings is not None:
        probes["twilio"] = lambda: twilio_check(settings)
        probes["twilio_number"] = lambda: twilio_number_check(settings, origin)
        probes[SENDER_CHECK] = lambda: sender_check(settings)
    results = run_probes(probes, DEADLINE_SECONDS)
    checks.append(storage.summary(results))
    checks.extend(results[name] for name in probes if name not in (*TWILIO_CHECKS, SENDER_CHECK))
    for name in TWILIO_CHECKS:
        checks.append(
            results[name] if settings is not None else Check(name, False, "not checked: fix the settings first")
        )
    if settings is not None:
        checks.append(_warning_only(results[SENDER_CHECK]))
    failing = [check.name for check in checks if not check.ok]
    body = {
        "status": "failing" if failing else "ok",
        "failing": failing,
        "warnings": [check.name for check in checks if check.warning],
        "checks": {check.name: check.to_json() for check in checks},
    }
    return (503 if failing else 200), body


def settings_checks(env: Mapping[str, str]) -> tuple[list[Check], Settings | None]:
    """One check for the settings as a whole, and one per setting that is missing, unresolved or unpaired."""
    per_setting = [Check(f"setting {name}", False, problem) for name, problem in setting_problems(env)]
    try:
        settings: Settings | None = Settings.from_env(env)
    except SettingsError as error:
        settings = None
        if not per_setting:
            per_setting = [Check("setting", False, str(error))]
    if settings is not None:
        return [Check("settings", True, "every required setting is present and every value can be used")], settings
    names = ", ".join(check.name.removeprefix("setting ") for check in per_setting)
    return [Check("settings", False, f"the app cannot start its work: see {names}"), *per_setting], None


def public_url_check(env: Mapping[str, str], origin: Origin) -> Check:
    configured = env.get("PUBLIC_BASE_URL", "").strip().rstrip("/")
    if not configured:
        return Check(
            "public_base_url", True,
            "not set: Twilio's signatures are checked against the URL each request arrives at",
        )  # fmt: skip
    if origin.same_host(configured):
        return Check("public_base_url", True, f"matches the host that served this request ({origin.host})")
    return Check(
        "public_base_url", False,
        f"PUBLIC_BASE_URL is {configured}, but this request reached {origin.host}: Twilio's signatures are checked "
        f"against PUBLIC_BASE_URL, so every webhook sent to another host gets 403. Set it to the origin you give "
        f"Twilio, and open /api/health through that origin.",
    )  # fmt: skip


class StorageProbe:
    """Does each queue, table and container exist? Any answer from the service also proves it is reachable."""

    def __init__(self, names: StorageNames) -> None:
        self.names = names

    def _wanted(self) -> list[tuple[str, str]]:
        names = self.names
        return [(kind, name) for kind, of_kind in (("queue", names.queues), ("table", names.tables),
                                                   ("container", names.containers)) for name in of_kind]  # fmt: skip

    def probes(self) -> dict[str, Callable[[], Check]]:
        calls: dict[str, Callable[[str], object]] = {"queue": _peek_queue, "table": _query_table,
                                                     "container": _container_properties}  # fmt: skip
        return {f"{kind} {name}": self._probe(kind, name, calls[kind]) for kind, name in self._wanted()}

    def _probe(self, kind: str, name: str, call: Callable[[str], object]) -> Callable[[], Check]:
        def probe() -> Check:
            problem, unreachable = self._problem(kind, lambda: call(name))
            return Check(
                f"{kind} {name}", problem is None, problem or "exists",
                reached=unreachable is None, unreachable=unreachable,
            )  # fmt: skip

        return probe

    @staticmethod
    def _problem(kind: str, call: Callable[[], object]) -> tuple[str | None, str | None]:  # noqa: PLR0911
        """The problem (None: none), and why the service did not answer (None: it answered). One answer per error."""
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

        from switchboard.adapters.storage import StorageConfigError

        try:
            call()
        except StorageConfigError as error:
            return str(error), str(error)
        except ResourceNotFoundError:
            return f"the {kind} does not exist: infra/ creates it (run `azd provision`)", None
        except ClientAuthenticationError as error:
            if error.response is None:  # no token: the identity (or az login) is not available
                return f"no credential for storage: {_first_line(error)}", f"no credential: {_first_line(error)}"
            return f"refused ({_code(error)}): check the app identity's role assignments on the storage account", None
        except HttpResponseError as error:
            return f"storage answered {error.status_code} ({_code(error)})", None
        except Exception as error:  # connection refused, DNS, timeouts
            return f"no answer from storage ({type(error).__name__})", f"{type(error).__name__}: {_first_line(error)}"
        return None, None

    def summary(self, results: Mapping[str, Check]) -> Check:
        """Pure but for resolving the target: reachable when any probe got an answer, else the first reason."""
        from switchboard.adapters.storage import StorageConfigError, StorageTarget

        try:
            target = StorageTarget.resolve()
        except StorageConfigError as error:
            return Check("storage", False, str(error))
        how = "managed identity" if target.uses_identity else "connection string"
        keys = (f"{kind} {name}" for kind, name in self._wanted())
        mine = [results[key] for key in keys if key in results]
        if any(check.reached for check in mine):
            return Check("storage", True, f"reachable ({how})")
        # A probe still waiting at the deadline gives no reason of its own.
        reason = next((check.unreachable for check in mine if check.unreachable), "no answer within the deadline")
        return Check("storage", False, f"the storage account could not be reached ({how}): {reason}")


def twilio_check(settings: Settings) -> Check:
    """Fetch the Account resource: one authenticated GET, nothing changes."""
    from twilio.base.exceptions import TwilioException, TwilioRestException

    from switchboard.adapters.twilio_client import build_client

    quick = dataclasses.replace(
        settings, twilio_timeout_seconds=min(settings.twilio_timeout_seconds, TWILIO_TIMEOUT_SECONDS)
    )
    credential = "TWILIO_API_KEY/TWILIO_API_SECRET" if settings.api_key else "TWILIO_AUTH_TOKEN"
    where = settings.api_base_url
    try:
        account = build_client(quick).api.v2010.accounts(settings.account_sid).fetch()
    except TwilioRestException as error:
        if error.status in (401, 403):
            return Check("twilio", False, f"{where} refused the credentials ({error.status}, code {error.code}): "
                                          f"check TWILIO_ACCOUNT_SID and {credential}")  # fmt: skip
        return Check("twilio", False, f"{where} answered {error.status} (code {error.code}) for the account")
    except TwilioException as error:
        return Check("twilio", False, f"no answer from {where}: {_first_line(error)}")
    except Exception as error:  # requests' connection errors and timeouts
        return Check("twilio", False, f"no answer from {where} ({type(error).__name__})")
    if str(account.status) != "active":
        return Check("twilio", False, f"the account is {account.status}: calls and messages will fail")
    return Check("twilio", True, f"credentials accepted ({credential}) by {where}")


def twilio_number_check(settings: Settings, origin: Origin) -> Check:  # noqa: PLR0911 (one answer per problem)
    """TWILIO_PHONE_NUMBER's live configuration at Twilio: webhooks, status callback and fallbacks point here."""
    from twilio.base.exceptions import TwilioException, TwilioRestException

    from switchboard.adapters.twilio_client import build_client
    from switchboard.shared.numberwiring import FIELDS, differences, wanted
    from switchboard.shared.phones import mask_in_text

    if not settings.phone_number:
        return Check("twilio_number", True, "not checked: TWILIO_PHONE_NUMBER is not set")
    shown = mask_in_text(settings.phone_number)
    base = settings.public_base_url or f"{origin.scheme}://{origin.host}"
    quick = dataclasses.replace(
        settings, twilio_timeout_seconds=min(settings.twilio_timeout_seconds, TWILIO_TIMEOUT_SECONDS)
    )
    try:
        numbers = (
            build_client(quick)
            .api.v2010.accounts(settings.account_sid)
            .incoming_phone_numbers.list(phone_number=settings.phone_number, limit=2)
        )
    except TwilioRestException as error:
        return Check("twilio_number", False, f"{settings.api_base_url} answered {error.status} (code {error.code}) "
                                             f"for the account's numbers")  # fmt: skip
    except TwilioException as error:
        return Check("twilio_number", False, f"no answer from {settings.api_base_url}: {_first_line(error)}")
    except Exception as error:  # requests' connection errors and timeouts
        return Check("twilio_number", False, f"no answer from {settings.api_base_url} ({type(error).__name__})")
    live = next((n for n in numbers if n.phone_number == settings.phone_number), None)
    if live is None:
        return Check("twilio_number", False, f"TWILIO_PHONE_NUMBER {shown} is not a number of this Twilio account")
    changed = differences(
        {field: getattr(live, field, None) for field in FIELDS}, wanted(base, settings.fallback_base_url)
    )
    if changed:
        listed = "; ".join(f"{FIELDS[field]} is {old or '(unset)'}, not {new}" for field, (old, new) in changed.items())
        return Check("twilio_number", False, f"{shown} is not wired to this app: {listed}. "
                                             f"Run `python -m switchboard twilio configure`")  # fmt: skip
    fallback = "with fallbacks" if settings.fallback_base_url else "no fallback (TWILIO_FALLBACK_BASE_URL unset)"
    return Check("twilio_number", True, f"{shown} sends calls, messages and call status here ({fallback})")


def is_us_long_code(number: str | None) -> bool:
    """A US ten-digit number that is not toll-free: what A2P 10DLC registration is for (not a short code)."""
    from switchboard.shared.phones import is_e164, region_of

    if not number or not is_e164(number) or not number.startswith("+1") or len(number) != 12:
        return False
    return region_of(number) == "US" and number[2:5] not in TOLL_FREE_AREA_CODES


def sender_check(settings: Settings, now: datetime | None = None) -> Check:
    """Warn (never fail) when TWILIO_PHONE_NUMBER is a US long code and a recent SMS from it failed with 30034.

    Reads the day index of the last RECENT_HOURS, newest first, at most RECENT_SENDS records (a few fields each).
    """
    from switchboard.records.store import get_store
    from switchboard.shared.phones import mask_in_text
    from switchboard.shared.reasons import reason_for

    number = settings.phone_number
    if not is_us_long_code(number):
        return Check(SENDER_CHECK, True, "not checked: TWILIO_PHONE_NUMBER is not a US long code")
    moment = now or datetime.now(timezone.utc)
    since = moment - timedelta(hours=RECENT_HOURS)
    try:
        store = get_store(settings.records_table, settings.optouts_table, **STORAGE_OPTIONS)
        store = store.with_options(**STORAGE_OPTIONS)
        ids: list[str] = []
        for day in dict.fromkeys((moment.date(), since.date())):
            ids += store.day_ids(day, since, RECENT_SENDS - len(ids))
        records = store.get_many(ids, fields=["type", "direction", "from_", "error_code"])
    except Exception as error:  # the storage checks say what is wrong with storage; this one only warns
        return Check(SENDER_CHECK, True, f"not checked: recent records could not be read ({type(error).__name__})")
    ours = [r for r in records if r.type == "sms" and r.direction == "outbound" and r.from_ == number]
    failed = sum(1 for r in ours if str(r.error_code) == UNREGISTERED_10DLC)
    shown = mask_in_text(str(number))
    if not failed:
        return Check(SENDER_CHECK, True, f"{shown}: no SMS of the last {RECENT_HOURS} h failed with 30034")
    explained = reason_for(UNREGISTERED_10DLC)
    remedy = f"{explained.reason}: {explained.remedy}" if explained else "register the number for A2P 10DLC"
    return Check(
        SENDER_CHECK, True, warning=True,
        detail=f"{shown} is a US long code and {failed} of its {len(ours)} latest SMS in the last {RECENT_HOURS} h "
        f"failed with 30034 ({remedy})",
    )  # fmt: skip


def _warning_only(check: Check) -> Check:
    """A warning never fails the health check, even if the check itself broke (it only reads records)."""
    return check if check.ok else Check(check.name, True, f"not checked: {check.detail}")


def run_probes(probes: Mapping[str, Callable[[], Check]], deadline: float) -> dict[str, Check]:
    """The checks' I/O: every probe at once, each answer or "no answer" by `deadline` (tests replay it)."""
    pool = ThreadPoolExecutor(max_workers=max(1, min(8, len(probes))), thread_name_prefix="health")
    futures: dict[str, Future[Check]] = {name: pool.submit(probe) for name, probe in probes.items()}
    wait(futures.values(), timeout=deadline)
    pool.shutdown(wait=False, cancel_futures=True)  # a hung call ends on its own timeout
    results = {}
    for name, future in futures.items():
        if not future.done() or future.cancelled():  # cancelled: still waiting for a worker thread at the deadline
            results[name] = Check(name, False, f"no answer within {deadline:.0f} s")
        elif (error := future.exception()) is not None:
            log.warning("Health check %s failed unexpectedly: %s", name, type(error).__name__)
            results[name] = Check(name, False, f"the check itself failed ({type(error).__name__})")
        else:
            results[name] = future.result()
    return results


def _peek_queue(name: str) -> object:
    from switchboard.adapters.storage import queue_client

    return queue_client(name).peek_messages(max_messages=1, **STORAGE_OPTIONS)


def _query_table(name: str) -> object:
    from switchboard.adapters.storage import table_client

    entities = table_client(name).query_entities(
        "PartitionKey eq @pk", parameters={"pk": "~health"}, results_per_page=1, select=["PartitionKey"],
        **STORAGE_OPTIONS,
    )  # fmt: skip
    return next(iter(entities), None)


def _container_properties(name: str) -> object:
    from switchboard.adapters.storage import blob_service_client

    return blob_service_client().get_container_client(name).get_container_properties(**STORAGE_OPTIONS)


def _defaults() -> Settings:
    """Default resource names when the settings cannot be read: storage is still worth checking."""
    return Settings(account_sid="", auth_token="")


def _code(error: Any) -> str:
    return str(getattr(error, "error_code", None) or getattr(error, "reason", None) or "no code")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def _first(value: str | None) -> str | None:
    if not value:
        return None
    return value.split(",")[0].strip() or None


def _host_port(scheme: str, netloc: str) -> tuple[str, int | None]:
    netloc = netloc.rsplit("@", 1)[-1]
    host, _, port = netloc.rpartition(":") if netloc.rsplit(":", 1)[-1].isdigit() and "]" not in netloc[-1:] else (
        netloc, "", "")  # fmt: skip
    number = int(port) if port else None
    return host.strip("[]"), None if number == DEFAULT_PORTS.get(scheme) else number
