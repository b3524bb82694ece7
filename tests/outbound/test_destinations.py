"""Issue 11 point 3: one destination policy for everything the outbound queue dials, texts or hands Twilio to fetch."""

from __future__ import annotations

import json

import pytest

from switchboard.outbound.contract import OutboundRequest, validate
from switchboard.policies.destinations import DestinationPolicy, is_public_host, refusal, twiml_refusal, url_refusal
from switchboard.policies.dialpolicy import DialPolicy
from switchboard.settings import Settings
from tests.outbound.conftest import deliver, new_id, record
from tests.support import BASE_ENV, PHONE_NUMBER, PUBLIC_BASE_URL, function, http_request
from tools.emulator.rest import TwilioEmulator

HOME = DestinationPolicy(home_number=PHONE_NUMBER)  # +1 500: the United States


@pytest.mark.parametrize(
    ("number", "allowed"),
    [
        ("+15558675310", True),  # the seed's "Hello world" call: fictional US range, same country
        ("+16502530000", True),
        ("+18005550100", True),  # toll-free costs the caller nothing
        ("+19005550123", False),  # US premium rate
        ("+18765550100", False),  # +1 but Jamaica: the one-ring scam region
        ("+18765550000", False),  # a Jamaican number phonenumbers does not know is still Jamaican
        ("+442071838750", False),  # another country
        ("+447700900123", False),
        ("15558675310", False),
    ],
)
def test_the_default_is_the_home_country_without_costly_numbers(number: str, allowed: bool) -> None:
    assert (HOME.number_refusal(number) is None) is allowed


def test_a_listed_nanp_prefix_does_not_open_the_caribbean() -> None:
    """Issue 20 point 5: the outbound policy reads `+1*` as the forward twimlets do (one rule, `prefix_opens`)."""
    policy = DestinationPolicy(listed=DialPolicy.parse("+1*"), home_country="GB")
    assert policy.number_refusal("+15558675310") is None
    assert policy.number_refusal("+14165550123") is None
    for caribbean in ("+18765550100", "+18095550100", "+12845550100"):
        assert policy.number_refusal(caribbean) is not None
    twiml = "<Response><Dial>+18765550100</Dial></Response>"
    assert twiml_refusal(twiml, policy) is not None
    assert twiml_refusal(twiml, DestinationPolicy(listed=DialPolicy.parse("+1876*"), home_country="GB")) is None


def test_listed_numbers_and_prefixes_add_to_the_default() -> None:
    policy = DestinationPolicy(listed=DialPolicy.parse("+44*,+19005550123"), home_number=PHONE_NUMBER)
    assert policy.number_refusal("+442071838750") is None  # by prefix
    assert policy.number_refusal("+19005550123") is None  # listed exactly: the operator's own decision
    assert "premium-rate" in (policy.number_refusal("+448712345678") or "")  # a prefix never opens premium rate
    assert "premium-rate" in (policy.number_refusal("+19005550124") or "")


def test_settings_build_the_policy_from_the_phone_number_and_the_list() -> None:
    settings = Settings.from_env(BASE_ENV | {"OUTBOUND_ALLOWED_DESTINATIONS": "+31*"})
    policy = settings.outbound_destinations
    assert policy.number_refusal("+31201234567") is None
    assert policy.number_refusal("+15558675310") is None
    assert policy.number_refusal("+442071838750") is not None
    assert not policy.allow_http
    assert Settings.from_env(BASE_ENV | {"ALLOW_HTTP_URLS": "true"}).outbound_destinations.allow_http
    from switchboard.settings import SettingsError

    with pytest.raises(SettingsError, match="OUTBOUND_ALLOWED_DESTINATIONS"):
        Settings.from_env(BASE_ENV | {"OUTBOUND_ALLOWED_DESTINATIONS": "*"})


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/t",
        "https://127.0.0.1/t",
        "https://127.1/t",
        "https://2130706433/t",
        "https://0x7f000001/t",
        "https://[::1]/t",
        "https://[::ffff:169.254.169.254]/t",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.5/a.mp3",
        "https://192.168.1.1/a.png",
        "https://100.64.0.1/a.png",
        "https://[fe80::1%25eth0]/x",
        "https://localhost/t",
        "https://app.localhost/t",
        "https://nas.local/a.png",
        "https://metadata.google.internal/x",
        "https://intranet/t",
        "https://example.com\\@127.0.0.1/t",
        "ftp://example.com/a.mp3",
        "https://example.com:99999/",
        # Spellings a WHATWG/IDNA URL parser turns into a private address.
        "https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/t",  # fullwidth digits
        "https://%31%32%37.0.0.1/t",  # percent-encoded host
        "https://%6c%6f%63%61%6c%68%6f%73%74/t",
        # IPv6 addresses that carry a private IPv4 address.
        "https://[::127.0.0.1]/t",  # IPv4-compatible
        "https://[64:ff9b::a9fe:a9fe]/t",  # NAT64 of 169.254.169.254
        "https://[2002:7f00:1::]/t",  # 6to4 of 127.0.0.1
    ],
)
def test_urls_must_be_https_and_public(url: str) -> None:
    assert url_refusal(url, allow_http=False) is not None


def test_public_https_urls_pass_and_http_only_when_allowed() -> None:
    public = ("https://example.com/twiml?x=1", "https://8.8.8.8/a.mp3", "https://[2001:4860::8888]/x")
    for url in (*public, "https://b\u00fccher.example/a.mp3", "https://[64:ff9b::808:808]/x"):
        assert url_refusal(url, allow_http=False) is None, url
    assert url_refusal("http://example.com/t", allow_http=True) is None
    assert url_refusal("http://127.0.0.1/t", allow_http=True) is not None  # development still never opens loopback
    assert not is_public_host("LOCALHOST.")


@pytest.mark.parametrize(
    ("twiml", "found"),
    [
        ("<Response><Dial><Number>+19005550123</Number></Dial></Response>", "premium-rate"),
        ("<Response><Dial>+442071838750</Dial></Response>", "outside US"),
        ("<Response><Dial><Number> +18765550100 </Number></Dial></Response>", "outside US"),
        ("<Response><Dial><Sip>sip:pay@premium.example</Sip></Dial></Response>", "<Sip>"),
        ('<Response><Message to="+442071838750">hi</Message></Response>', "outside US"),
        ('<Response><Sms to="+19005550123">hi</Sms></Response>', "premium-rate"),
        ("<Response><Redirect>https://169.254.169.254/x</Redirect></Response>", "link-local"),
        ("<Response><Play>http://example.com/a.mp3</Play></Response>", "https"),
        ('<Response><Dial action="https://localhost/a"><Number>+15558675310</Number></Dial></Response>', "loopback"),
        ('<Response xmlns="urn:x"><Dial><Number>+19005550123</Number></Dial></Response>', "premium-rate"),
        ("<Response><dial>+19005550123</dial></Response>", "premium-rate"),
        ('<!DOCTYPE r [<!ENTITY n "+19005550123">]><Response><Dial>&n;</Dial></Response>', "not accepted"),
        # Text after a nested noun is the <Dial>'s too; <Dial><WhatsApp> dials a number.
        ("<Response><Dial><Number>+15558675310</Number>+442071838750</Dial></Response>", "outside US"),
        ("<Response><Dial><Client>alice</Client> +19005550123 </Dial></Response>", "premium-rate"),
        ("<Response><Dial><WhatsApp>+442071838750</WhatsApp></Dial></Response>", "outside US"),
        # Every callback attribute Twilio calls, not only the common ones.
        ('<Response><Record transcribeCallback="https://127.0.0.1/t"/></Response>', "<Record>: host"),
        ('<Response><Gather partialResultCallback="https://10.0.0.1/p"/></Response>', "<Gather>: host"),
        ('<Response><Dial referUrl="https://localhost/r">+15558675310</Dial></Response>', "loopback"),
        ('<Response><Dial><Number amdStatusCallback="https://[::1]/a">+15558675310</Number></Dial></Response>', "host"),
        (
            '<Response><Dial><Conference eventCallbackUrl="https://169.254.169.254/e">r</Conference></Dial></Response>',
            "host",
        ),
        (
            '<Response><Dial><Number StatusCallback="https://127.0.0.1/s">+15558675310</Number></Dial></Response>',
            "host",
        ),
        ("<Response><Refer><Sip>sip:pay@premium.example</Sip></Refer></Response>", "<Sip>"),
    ],
)
def test_numbers_and_urls_in_inline_twiml_are_checked(twiml: str, found: str) -> None:
    assert found in (twiml_refusal(twiml, HOME) or "")


def test_allowed_twiml_passes() -> None:
    twiml = "<Response><Say>Hi</Say><Dial><Number>+15558675310</Number><Client>alice</Client></Dial></Response>"
    assert twiml_refusal(twiml, HOME) is None


def test_media_streams_connect_over_public_wss_only() -> None:
    def stream(url: str) -> str:
        return f'<Response><Connect><Stream url="{url}" statusCallback="https://example.com/s"/></Connect></Response>'

    assert twiml_refusal(stream("wss://media.example.com/stream"), HOME) is None
    assert "must be wss" in (twiml_refusal(stream("ws://media.example.com/stream"), HOME) or "")
    assert "loopback" in (twiml_refusal(stream("wss://127.0.0.1/stream"), HOME) or "")
    assert "must be a wss:// URL" in (twiml_refusal(stream("https://media.example.com/stream"), HOME) or "")
    # Only the stream's own url is a WebSocket: its callbacks stay https.
    callback = '<Response><Start><Stream url="wss://m.example.com/s" statusCallback="wss://m.example.com/cb"/></Start></Response>'
    assert "statusCallback" not in (twiml_refusal(callback, HOME) or "statusCallback")
    assert "must be a https:// URL" in (twiml_refusal(callback, HOME) or "")


def _request(**fields: object) -> OutboundRequest:
    data = {"type": "call", "to": "+15558675310", **fields}
    if not any(key in data for key in ("say", "play", "twiml", "url", "body", "media_url")):
        data["say"] = "Hi"
    return validate(data, default_id="r1", default_from=PHONE_NUMBER)


def test_refusal_covers_to_url_play_twiml_and_media() -> None:
    assert refusal(_request(say="Hello world."), HOME) is None
    assert (refusal(_request(to="+19005550123"), HOME) or "").startswith("to:")
    assert (refusal(_request(url="https://10.0.0.1/t"), HOME) or "").startswith("url:")
    assert (refusal(_request(play="http://example.com/a.mp3"), HOME) or "").startswith("play:")
    twiml = "<Response><Dial>+19005550123</Dial></Response>"
    assert (refusal(_request(twiml=twiml), HOME) or "").startswith("twiml")
    sms = validate({"type": "sms", "to": "+15558675310", "media_url": ["https://169.254.169.254/a.png"]},
                   default_id="r2", default_from=PHONE_NUMBER)  # fmt: skip
    assert (refusal(sms, HOME) or "").startswith("media_url:")


# -- the queue worker and POST /api/outbound --------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        {"type": "call", "to": "+19005550123", "say": "Hi"},
        {"type": "sms", "to": "+442071838750", "body": "Hi"},
        {"type": "call", "to": "+15558675310", "twiml": "<Response><Dial>+19005550123</Dial></Response>"},
        {"type": "call", "to": "+15558675310", "twiml": "<Response><Dial><Sip>sip:a@b.example</Sip></Dial></Response>"},
        {"type": "call", "to": "+15558675310", "url": "https://127.0.0.1/twiml"},
        {"type": "call", "to": "+15558675310", "play": "http://example.com/a.mp3"},
        {"type": "sms", "to": "+15558675310", "body": "x", "media_url": ["https://169.254.169.254/latest"]},
    ],
)
def test_the_worker_rejects_what_the_policy_refuses(app, twilio: TwilioEmulator, message: dict[str, object]) -> None:
    request_id = new_id()
    deliver(app, message | {"id": request_id})
    deliver(app, message | {"id": request_id}, dequeue_count=2)
    assert twilio.attempts("calls") == []
    assert twilio.attempts("messages") == []
    body = record(app, request_id)
    assert body["status"] == "rejected"
    assert body["reason"].startswith("destination not allowed: ")
    assert [event["kind"] for event in body["events"]] == ["rejected"]


def test_the_seed_hello_world_call_still_goes_out(app, twilio: TwilioEmulator) -> None:
    request_id = new_id()
    deliver(app, {"type": "call", "id": request_id, "to": "+15558675310", "say": "Hello world."})
    assert record(app, request_id)["status"] == "queued"
    assert len(twilio.created("calls")) == 1


def test_listed_destinations_go_out(app, twilio: TwilioEmulator, configure) -> None:
    configure(OUTBOUND_ALLOWED_DESTINATIONS="+44*")
    request_id = new_id()
    deliver(app, {"type": "sms", "id": request_id, "to": "+442071838750", "body": "Hi"})
    assert record(app, request_id)["status"] == "queued"


def _post(app, payload: dict[str, object]) -> tuple[int, dict[str, object], str | None]:
    from tools.devhost.invoke import Out

    out = Out()
    request = http_request("POST", f"{PUBLIC_BASE_URL}/api/outbound", headers={"Content-Type": "application/json"},
                           body=json.dumps(payload).encode())  # fmt: skip
    response = function(app, "outbound_enqueue")(request, out)
    return response.status_code, json.loads(response.get_body()), out.get()


def test_post_outbound_refuses_and_queues_nothing(app) -> None:
    status, body, queued = _post(app, {"type": "call", "to": "+19005550123", "say": "Hi"})
    assert (status, body["reason"], queued) == (400, "destination_not_allowed", None)
    assert "premium-rate" in str(body["error"])
    status, _, queued = _post(app, {"type": "sms", "to": "+15558675310", "body": "x",
                                    "media_url": ["https://10.1.2.3/a.png"]})  # fmt: skip
    assert (status, queued) == (400, None)
    assert _post(app, {"type": "call", "to": "+15558675310", "say": "Hello world."})[0] == 202


def test_a_voicemail_notice_goes_through_the_same_policy(app, twilio: TwilioEmulator) -> None:
    """The voicemail twimlet queues its NotifyNumber SMS on the outbound queue: the worker's check covers it."""
    from switchboard.adapters.storage import queue_client
    from switchboard.functions.glue_twimlets import OUTBOUND_QUEUE, StorageVoicemailSink
    from switchboard.twiml.twimlets.base import VoicemailEvent

    recording_sid = "RE" + new_id()[2:].ljust(32, "a")
    event = VoicemailEvent(call_sid="CA" + new_id()[2:].ljust(32, "b"), recording_sid=recording_sid,
                           recording_url=None, duration=5, transcript=None, transcription_status=None,
                           caller="+15558675310")  # fmt: skip
    StorageVoicemailSink().notify_voicemail("+19005550123", event)
    found = queue_client(OUTBOUND_QUEUE).receive_messages(max_messages=32)
    [message] = [m for m in found if recording_sid.encode() in m.content]
    deliver(app, message.content, message_id=message.id)
    body = record(app, f"vm-{recording_sid}")
    assert body["status"] == "rejected"
    assert "premium-rate" in body["reason"]
    assert twilio.attempts("messages") == []


OWN = frozenset({"switchboard.example.com", "func-abc.azurewebsites.net"})


@pytest.mark.parametrize(
    "url",
    [
        "https://switchboard.example.com/api/twiml/voicemail?Email=someone@elsewhere.example",
        "https://SWITCHBOARD.example.com./api/twiml/forward?PhoneNumber=%2B18765550100",
        "https://func-abc.azurewebsites.net/api/twiml/findme?PhoneNumbers[0]=%2B15558675310",
        "https://switchboard.example.com/api/TWIML/Voicemail?Email=x@y.example",
        "https://switchboard.example.com/api/%74wiml/voicemail?Email=x@y.example",
        "https://switchboard.example.com/api/%2574wiml/voicemail?Email=x@y.example",
        "https://switchboard.example.com//api/./twiml/x/../conference?Name=Board",
        "https://switchboard.example.com/api/twiml/message/../voicemail",
        "https://switchboard.example.com/api/twiml/",
        # Behind a gateway (PUBLIC_BASE_URL with a path) the routes are under that path.
        "https://switchboard.example.com/switchboard/api/twiml/voicemail?Email=x@y.example",
        "https://switchboard.example.com/a/b/API/twiml/findme?PhoneNumbers[0]=%2B15558675310",
        # The default flows dial and text what the app's settings name (VOICE_FORWARD_TO, VOICEMAIL_NOTIFY),
        # which the outbound policy never saw.
        "https://switchboard.example.com/api/voice/incoming",
        "https://func-abc.azurewebsites.net/api/Voice/Incoming/",
        "https://switchboard.example.com/switchboard/api/sms/incoming",
        # The host as a URL parser resolves it: percent-decoded, IDNA-mapped (fullwidth letters and dots).
        "https://switchboard%2Eexample.com/api/twiml/voicemail?Email=x@y.example",
        "https://switchboard\uff0eexample\uff0ecom/api/twiml/voicemail?Email=x@y.example",
        "https://\uff53witchboard.example.com/api/twiml/findme?PhoneNumbers[0]=%2B15558675310",
    ],
)
def test_a_producer_may_not_point_twilio_at_the_apps_configurable_twimlets(url: str) -> None:
    """The twimlets take their configuration from the URL: on the app's own host, a producer's URL may
    name only message and holdmusic (voicemail would e-mail a call's recording to the producer's `Email`)."""
    policy = DestinationPolicy(home_number="+15005550006", own_hosts=OWN)
    reason = policy.url_refusal(url)
    assert reason is not None
    assert "only holdmusic and message" in reason
    twiml = f"<Response><Redirect>{url.replace('&', '&amp;')}</Redirect></Response>"
    assert twiml_refusal(twiml, policy) is not None


@pytest.mark.parametrize(
    "url",
    [
        "https://switchboard.example.com/api/twiml/message?Message=Hello%20world.",
        "https://switchboard.example.com/api/twiml/holdmusic?Bucket=com.twilio.music.classical",
        "https://elsewhere.example/api/twiml/voicemail?Email=x@y.example",  # not this app: its owner's business
        "https://switchboard.example.com/hello.xml",
        "https://switchboard.example.com/switchboard/api/twiml/message?Message=Hi",
        # Callbacks find their record by SID (an id needs the app's tag): pointing one at the app is harmless.
        "https://switchboard.example.com/api/voice/recording",
        "https://switchboard.example.com/api/voice/status",
    ],
)
def test_message_holdmusic_and_other_hosts_stay_allowed(url: str) -> None:
    assert DestinationPolicy(home_number="+15005550006", own_hosts=OWN).url_refusal(url) is None


def test_the_apps_own_hosts_come_from_public_base_url_and_website_hostname() -> None:
    from switchboard.settings import Settings
    from tests.support import BASE_ENV

    env = BASE_ENV | {
        "PUBLIC_BASE_URL": "https://Switchboard.Example.com",
        "WEBSITE_HOSTNAME": "func-abc.azurewebsites.net",
    }
    hosts = Settings.from_env(env).outbound_destinations.own_hosts
    assert hosts == {"switchboard.example.com", "func-abc.azurewebsites.net"}
