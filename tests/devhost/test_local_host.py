"""The local host over real HTTP and real Azurite queues."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
from urllib.parse import urlsplit

import azure.functions as func
import pytest
import requests

from switchboard.adapters.storage import queue_client
from tests.support import FUNCTION_KEY, signed_form
from tests.support import XML_DECLARATION as DECL
from tools.devhost.host import LocalHost
from tools.devhost.hostconfig import HostConfig, timespan_seconds
from tools.devhost.index import route_pattern
from tools.devhost.queues import UndecodableMessage, create_if_missing, decode
from tools.devhost.server import host_headers, host_params
from tools.localmachine import PROJECT_ROOT, free_port


def test_timespans() -> None:
    assert timespan_seconds("00:00:30") == 30
    assert timespan_seconds("1.02:03:04.5") == 86400 + 7384.5
    with pytest.raises(ValueError, match="timespan"):
        timespan_seconds("30s")


def test_host_json_queue_settings_are_read() -> None:
    config = HostConfig.load(PROJECT_ROOT / "host.json")
    assert config.route_prefix == "api"
    assert config.queues.max_dequeue_count == 5
    assert config.queues.visibility_timeout == 30
    assert config.queues.message_encoding == "base64"


@pytest.mark.parametrize(
    ("route", "path", "expected"),
    [
        ("records/{id}", "records/abc", {"id": "abc"}),
        ("records/{id}", "records", None),
        ("records/{id?}", "records", {}),
        ("files/{*rest}", "files/a/b/c", {"rest": "a/b/c"}),
        ("twiml/{name:alpha}", "twiml/menu", {"name": "menu"}),
    ],
)
def test_route_templates(route: str, path: str, expected: dict[str, str] | None) -> None:
    found = route_pattern(route).fullmatch(path)
    assert (found and {k: v for k, v in found.groupdict().items() if v is not None}) == expected


def test_signed_post_over_http(served: LocalHost, configure) -> None:
    configure(PUBLIC_BASE_URL=None, VOICE_GREETING="Over HTTP", VOICE_FORWARD_TO=None)
    url = f"{served.base_url}/voice/incoming"
    headers, body = signed_form(url, {"From": "+15558675310", "To": "+15005550006"})
    response = requests.post(url, headers=headers, data=body, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    assert response.text == f"{DECL}<Response><Say>Over HTTP</Say><Hangup /></Response>"


def test_unsigned_post_over_http_is_forbidden(served: LocalHost) -> None:
    response = requests.post(f"{served.base_url}/voice/incoming", data={"From": "+15558675310"}, timeout=10)
    assert response.status_code == 403


def test_hello_world_over_http(served: LocalHost, configure) -> None:
    configure(PUBLIC_BASE_URL=None)
    url = f"{served.base_url}/twiml/message?Message=Hello%20world."
    headers, _ = signed_form(url, [])
    response = requests.get(url, headers={"X-Twilio-Signature": headers["X-Twilio-Signature"]}, timeout=10)
    assert response.text == f"{DECL}<Response><Say>Hello world.</Say></Response>"


@pytest.mark.parametrize("code", ["%ff", "%c3%28", "%E2%80%AE", "x" * 5000])
def test_a_non_ascii_or_odd_function_key_is_401_not_a_dropped_connection(served: LocalHost, code: str) -> None:
    for path in ("dashboard?q=x&code=", "outbound?code="):
        response = requests.request("GET" if path[0] == "d" else "POST", f"{served.base_url}/{path}{code}", timeout=10)
        assert response.status_code == 401


def test_declared_methods_and_unknown_routes(served: LocalHost) -> None:
    # The Functions host answers a method the function does not declare with 404 and an empty body.
    undeclared = requests.get(f"{served.base_url}/voice/incoming", timeout=10)
    assert (undeclared.status_code, undeclared.content) == (404, b"")
    assert requests.post(f"{served.base_url}/nope", timeout=10).status_code == 404
    assert requests.get(f"http://127.0.0.1:{served.port}/elsewhere", timeout=10).status_code == 404


def test_function_key_is_enforced() -> None:
    keyed = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @keyed.route(route="secret/{id}", methods=["GET"])
    def secret(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(json.dumps(dict(req.route_params)), mimetype="application/json",
                                 headers={"X-Custom": "yes"})  # fmt: skip

    with LocalHost(keyed, port=free_port(), function_keys=(FUNCTION_KEY,), queues=False) as host:
        url = f"{host.base_url}/secret/42"
        assert requests.get(url, timeout=10).status_code == 401
        assert requests.get(url, params={"code": "wrong"}, timeout=10).status_code == 401
        by_query = requests.get(url, params={"code": FUNCTION_KEY}, timeout=10)
        by_header = requests.get(url, headers={"x-functions-key": FUNCTION_KEY}, timeout=10)
        for response in (by_query, by_header):
            assert response.status_code == 200
            assert response.json() == {"id": "42"}
            assert response.headers["X-Custom"] == "yes"


def test_only_local_names_same_origin_and_json_reach_the_keyed_routes() -> None:
    """Issue 20 point 7: the dev host took cross-site text/plain POSTs (with the published default key) and
    answered any Host, so a web page could reach it by DNS rebinding."""
    keyed = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    seen: list[bytes] = []

    @keyed.route(route="outbound", methods=["POST"])
    def outbound(req: func.HttpRequest) -> func.HttpResponse:
        seen.append(req.get_body())
        return func.HttpResponse("{}", status_code=202, mimetype="application/json")

    payload = '{"type":"sms","to":"+15558675310","body":"hi"}'
    with LocalHost(keyed, port=free_port(), function_keys=(FUNCTION_KEY,), queues=False) as host:
        url = f"{host.base_url}/outbound?code={FUNCTION_KEY}"
        port = urlsplit(host.base_url).port

        def post(headers: dict[str, str]) -> int:
            return requests.post(url, data=payload, headers=headers, timeout=10).status_code

        assert post({"Content-Type": "text/plain"}) == 415  # a browser's cross-site "simple" request
        assert post({"Content-Type": "application/x-www-form-urlencoded"}) == 415
        assert post({"Content-Type": "application/json", "Origin": "https://evil.example"}) == 403
        assert post({"Content-Type": "application/json", "Host": f"rebound.evil.example:{port}"}) == 421
        assert seen == []
        assert post({"Content-Type": "application/json"}) == 202
        assert post({"Content-Type": "application/json; charset=utf-8", "Origin": f"http://localhost:{port}"}) == 202
        assert post({"Content-Type": "application/json", "Host": f"localhost:{port}"}) == 202
        assert len(seen) == 3


def _queue_app(seen: list[tuple[str, int]], done: threading.Event) -> func.FunctionApp:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="work", connection="AzureWebJobsStorage")
    @app.queue_output(arg_name="out", queue_name="results", connection="AzureWebJobsStorage")
    def worker(msg: func.QueueMessage, out: func.Out[str]) -> None:
        text = msg.get_body().decode()
        seen.append((text, msg.dequeue_count or 0))
        if text == "fail":
            raise RuntimeError("always fails")
        if text == "flaky" and (msg.dequeue_count or 0) < 2:
            raise RuntimeError("fails once")
        out.set(f"done:{text}")
        done.set()

    return app


def _drain(client, expect: int, timeout: float = 30.0) -> list[str]:
    found: list[str] = []
    deadline = time.monotonic() + timeout
    while len(found) < expect and time.monotonic() < deadline:
        for message in client.receive_messages(max_messages=32):
            found.append(message.content if isinstance(message.content, str) else message.content.decode())
            client.delete_message(message)
        time.sleep(0.1)
    return found


def test_queue_trigger_semantics(azurite: str) -> None:
    seen: list[tuple[str, int]] = []
    done = threading.Event()
    overrides = {"visibility_timeout": 0.0, "max_dequeue_count": 3, "max_polling_interval": 0.2}
    with LocalHost(_queue_app(seen, done), port=free_port(), queues=True, config_overrides=overrides):
        producer = queue_client("work")  # base64, as the host expects
        create_if_missing(queue_client("results"))
        producer.send_message("ok")
        producer.send_message("flaky")
        producer.send_message("fail")
        queue_client("work", base64=False).send_message("not base64 at all!")
        results = sorted(_drain(queue_client("results", base64=False), expect=2))
        poison = _drain(queue_client("work-poison", base64=False), expect=2)

    assert [base64.b64decode(r).decode() for r in results] == ["done:flaky", "done:ok"]
    # Poison keeps the message as it was on the queue.
    assert sorted(poison) == sorted([base64.b64encode(b"fail").decode(), "not base64 at all!"])
    assert [count for text, count in seen if text == "fail"] == [1, 2, 3]
    assert [count for text, count in seen if text == "flaky"] == [1, 2]


def _echo_app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="echo", methods=["GET"])
    def echo(req: func.HttpRequest) -> func.HttpResponse:
        body = {"params": dict(req.params), "tag": req.headers.get("x-tag")}
        return func.HttpResponse(json.dumps(body), mimetype="application/json")

    @app.route(route="text", methods=["GET"])
    def text(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("hi", mimetype="text/plain")

    return app


def test_query_and_headers_are_mapped_as_the_functions_host_does() -> None:
    # The Functions host drops empty query values, joins repeated keys with "," in req.params,
    # and joins repeated request headers with ", ".
    with LocalHost(_echo_app(), port=free_port(), queues=False) as host:
        response = requests.get(f"{host.base_url}/echo?a=1&a=2&empty=&b=x", timeout=10)
        assert response.json()["params"] == {"a": "1,2", "b": "x"}
    assert host_params("a=1&a=2&empty=&b=x") == {"a": "1,2", "b": "x"}
    assert host_headers([("X-Tag", "one"), ("x-tag", "two"), ("Host", "h")]) == {"X-Tag": "one, two", "Host": "h"}


def test_repeated_headers_over_http_are_joined() -> None:
    with LocalHost(_echo_app(), port=free_port(), queues=False) as host:
        connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
        connection.putrequest("GET", urlsplit(host.base_url).path + "/echo")
        connection.putheader("X-Tag", "one")
        connection.putheader("X-Tag", "two")
        connection.endheaders()
        answer = connection.getresponse()
        assert json.loads(answer.read())["tag"] == "one, two"
        connection.close()


def test_json_responses_carry_no_charset_as_under_the_real_worker() -> None:
    with LocalHost(_echo_app(), port=free_port(), queues=False) as host:
        assert requests.get(f"{host.base_url}/echo", timeout=10).headers["Content-Type"] == "application/json"
        assert requests.get(f"{host.base_url}/text", timeout=10).headers["Content-Type"].startswith("text/plain")


def test_base64_with_planted_line_breaks_decodes_like_convert_frombase64string() -> None:
    # .NET Convert.FromBase64String ignores spaces, tabs, CR and LF anywhere in the text.
    raw = json.dumps({"id": "order-1", "text": "x" * 120}).encode()
    wrapped = base64.encodebytes(raw).decode()  # 76-column lines, as coreutils base64 without -w0
    assert "\n" in wrapped
    planted = " " + wrapped.replace("A", "A\r\n", 1).replace("B", "\tB", 1)
    assert decode(wrapped, "base64") == raw
    assert decode(planted, "base64") == raw
    with pytest.raises(UndecodableMessage):
        decode("not base64 at all!", "base64")


def test_queue_body_is_a_utf8_string_with_invalid_bytes_replaced_and_bad_base64_is_poisoned_at_once(
    azurite: str,
) -> None:
    # The host hands the function a UTF-8 string (invalid bytes replaced) and moves a message
    # that is not base64 to <queue>-poison on its first receive, without calling the function.
    seen: list[tuple[str, int]] = []
    done = threading.Event()
    overrides = {"visibility_timeout": 0.0, "max_dequeue_count": 3, "max_polling_interval": 0.2}
    with LocalHost(_queue_app(seen, done), port=free_port(), queues=True, config_overrides=overrides):
        create_if_missing(queue_client("results"))
        raw_client = queue_client("work", base64=False)
        raw_client.send_message(base64.b64encode(b"caf\xe9 ok").decode())
        raw_client.send_message("still not base64!")
        results = _drain(queue_client("results", base64=False), expect=1)
        poison = _drain(queue_client("work-poison", base64=False), expect=1)
    assert [base64.b64decode(r).decode() for r in results] == ["done:caf\ufffd ok"]
    assert poison == ["still not base64!"]
    assert [text for text, _ in seen] == ["caf\ufffd ok"]
