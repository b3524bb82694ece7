"""azd's hooks (azure.yaml): `python3 tools/azd_hooks.py postprovision|postdeploy`. The standard library only.

postprovision
    Prints the URLs; publishes the fallback TwiML (infra/fallback/*.xml) on the storage account's static
    website, where Twilio fetches it (GET) when the app does not answer; with TWILIO_CONFIGURE_NUMBER=true,
    runs `python -m switchboard twilio configure` (the number's webhooks, status callback and fallbacks).
postdeploy
    Opens /api/health with the host key; when a Key Vault reference is still unresolved (the identity's role
    had not propagated when the app started), restarts the app and looks again, a bounded number of times.

azd passes its environment (the Bicep outputs included) to hooks as environment variables, and `azd auth
token` gives the deployer's Microsoft Entra token: nothing else (no Azure CLI) is needed.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FALLBACK_DIR = ROOT / "infra" / "fallback"
STORAGE_SCOPE = "https://storage.azure.com/.default"
ARM = "https://management.azure.com"
WEB_API_VERSION = "2023-12-01"
STORAGE_VERSION = "2021-08-06"
# A role assignment made by this provision can take minutes to apply: try for up to ~3 minutes.
PUBLISH_TRIES, PUBLISH_WAIT = 12, 15.0
RESTART_TRIES, RESTART_WAIT = 3, 30.0
STATIC_WEBSITE = (
    '<?xml version="1.0" encoding="utf-8"?><StorageServiceProperties>'
    "<StaticWebsite><Enabled>true</Enabled></StaticWebsite></StorageServiceProperties>"
)


def azd_token(scope: str | None = None) -> str:
    command = ["azd", "auth", "token", "--output", "json", *(["--scope", scope] if scope else [])]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120).stdout
    return str(json.loads(output)["token"])


def _request(
    method: str,
    url: str,
    token: str,
    body: bytes | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method)  # noqa: S310 - https URLs from azd's outputs
    request.add_header("Authorization", f"Bearer {token}")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def publish_fallback(
    blob_endpoint: str,
    token: str,
    *,
    context: ssl.SSLContext | None = None,
    tries: int = PUBLISH_TRIES,
    wait: float = PUBLISH_WAIT,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Turn static website hosting on and upload each fallback file into `$web`. Returns the names uploaded."""
    base = blob_endpoint.rstrip("/")
    common = {"x-ms-version": STORAGE_VERSION}
    steps: list[tuple[str, str, bytes, dict[str, str]]] = [
        ("PUT", f"{base}/?restype=service&comp=properties", STATIC_WEBSITE.encode(),
         common | {"Content-Type": "application/xml"}),
        # Azure creates `$web` when static website hosting is turned on; create it anyway (409: it exists).
        ("PUT", f"{base}/%24web?restype=container", b"", common),
    ]  # fmt: skip
    names = sorted(path.name for path in FALLBACK_DIR.glob("*.xml"))
    for name in names:
        data = (FALLBACK_DIR / name).read_bytes()
        steps.append(("PUT", f"{base}/%24web/{urllib.parse.quote(name)}", data, common | {
            "x-ms-blob-type": "BlockBlob", "x-ms-blob-content-type": "text/xml; charset=utf-8",
            "x-ms-blob-cache-control": "no-cache", "Content-Type": "text/xml; charset=utf-8",
        }))  # fmt: skip
    for method, url, body, headers in steps:
        for attempt in range(tries):
            status, answer = _request(method, url, token, body, headers=headers, context=context)
            if status < 300 or (status == 409 and b"ContainerAlreadyExists" in answer):
                break
            if status != 403 or attempt == tries - 1:  # 403: the role assignment has not applied yet
                raise RuntimeError(f"{method} {url.split('?')[0]} answered {status}: {answer[:300]!r}")
            sleep(wait)
    return names


def find_problem(health: Mapping[str, Any]) -> str | None:
    """The first unresolved Key Vault reference /api/health reports, or None."""
    for name, check in (health.get("checks") or {}).items():
        if not check.get("ok") and "unresolved Key Vault reference" in str(check.get("problem", "")):
            return str(name)
    return None


def postprovision(env: Mapping[str, str]) -> int:
    print("")
    print(f"Voice webhook:     {env.get('TWILIO_VOICE_WEBHOOK_URL', '')}")
    print(f"Messaging webhook: {env.get('TWILIO_SMS_WEBHOOK_URL', '')}")
    print(f"Call status:       {env.get('TWILIO_VOICE_STATUS_CALLBACK_URL', '')}")
    print(f"Fallbacks (GET):   {env.get('TWILIO_VOICE_FALLBACK_URL', '')} {env.get('TWILIO_SMS_FALLBACK_URL', '')}")
    print(f"Operator page (needs a function key): {env.get('SWITCHBOARD_DASHBOARD_URL', '')}")
    account = env.get("AZURE_STORAGE_ACCOUNT_NAME", "")
    if account:
        try:
            names = publish_fallback(f"https://{account}.blob.core.windows.net", azd_token(STORAGE_SCOPE))
            print(f"Published the fallback TwiML ({', '.join(names)}) on {env.get('TWILIO_FALLBACK_BASE_URL', '')}")
        except (RuntimeError, OSError, subprocess.CalledProcessError, KeyError, ValueError) as error:
            print(f"warning: the fallback TwiML was not published: {error}", file=sys.stderr)
    if env.get("TWILIO_CONFIGURE_NUMBER", "").strip().lower() == "true":
        from switchboard.__main__ import main

        return main(["twilio", "configure"], env=env)
    print("To point the number at these URLs: azd env set TWILIO_CONFIGURE_NUMBER true && azd provision,")
    print("or run `python -m switchboard twilio configure` (docs/deploy.md).")
    return 0


def postdeploy(env: Mapping[str, str], *, sleep: Callable[[float], None] = time.sleep) -> int:
    names = ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZURE_FUNCTION_NAME", "SWITCHBOARD_HEALTH_URL")
    if not all(env.get(name) for name in names):
        print(f"warning: health not checked: azd did not pass {', '.join(names)}", file=sys.stderr)
        return 0
    site = (f"{ARM}/subscriptions/{env['AZURE_SUBSCRIPTION_ID']}/resourceGroups/{env['AZURE_RESOURCE_GROUP']}"
            f"/providers/Microsoft.Web/sites/{env['AZURE_FUNCTION_NAME']}")  # fmt: skip
    try:
        token = azd_token()
        status, keys = _request("POST", f"{site}/host/default/listKeys?api-version={WEB_API_VERSION}", token, b"")
        if status >= 300:
            print(f"warning: health not checked: the host keys could not be listed ({status})", file=sys.stderr)
            return 0
        key = str(json.loads(keys)["functionKeys"]["default"])
        for attempt in range(RESTART_TRIES + 1):
            status, body = _health(env["SWITCHBOARD_HEALTH_URL"], key)
            health = json.loads(body) if body.strip().startswith(b"{") else {}
            problem = find_problem(health)
            if problem is None or attempt == RESTART_TRIES:
                break
            print(f"{problem}: unresolved Key Vault reference; restarting the app so that it resolves again")
            _request("POST", f"{site}/restart?api-version={WEB_API_VERSION}", token, b"")
            sleep(RESTART_WAIT)
    except (OSError, subprocess.CalledProcessError, KeyError, ValueError) as error:
        print(f"warning: health not checked: {error}", file=sys.stderr)
        return 0
    failing = ", ".join(health.get("failing", [])) or "none"
    print(f"/api/health answered {status}; failing: {failing}")
    return 0


def _health(url: str, key: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"x-functions-key": key})  # noqa: S310 - azd's https output
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    sys.path.insert(0, str(ROOT))  # `python3 tools/azd_hooks.py` from the checkout: switchboard/ is importable
    hooks = {"postprovision": postprovision, "postdeploy": postdeploy}
    if len(args) != 1 or args[0] not in hooks:
        print(f"usage: python3 tools/azd_hooks.py {'|'.join(hooks)}", file=sys.stderr)
        return 2
    return hooks[args[0]](os.environ)


if __name__ == "__main__":
    sys.exit(main())
