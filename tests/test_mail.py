"""Voicemail e-mail against a real SMTP server (aiosmtpd on a free 127.0.0.1 port), plain and STARTTLS.

The STARTTLS server presents a certificate from a throwaway CA (trustme) and requires it before AUTH;
the client trusts that CA through SSL_CERT_FILE, as an operator would trust a private CA.
"""

from __future__ import annotations

import base64
import email.policy
import json
import logging
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from switchboard.mail.message import Mail, MailError, SmtpServer
from switchboard.settings import get_settings
from switchboard.shared.addresses import is_address, mask_address
from tests.support import PUBLIC_BASE_URL, function, http_request, signed_form, xml_of
from tests.support import XML_DECLARATION as DECL

SENDER = "voicemail@switchboard.example.net"
USER, PASSWORD = "mailer", "smtp-pass-7c1e90"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Inbox:
    """What the SMTP server received, and the logins it saw."""

    port: int
    messages: list[tuple[str, list[str], Message]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        self.tls.append(session.ssl is not None)
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        login = auth_data.login.decode()
        self.logins.append(login)
        return AuthResult(success=login == USER and auth_data.password.decode() == PASSWORD)


def _serve(inbox: Inbox, **options: Any) -> Any:
    from aiosmtpd.controller import Controller

    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port, **options)
    controller.start()
    return controller


@pytest.fixture
def plain_smtp() -> Iterator[Inbox]:
    inbox = Inbox(free_port())
    controller = _serve(inbox)
    yield inbox
    controller.stop()


@pytest.fixture
def tls_smtp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    import trustme

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # the client trusts our CA, and only it
    inbox = Inbox(free_port())
    controller = _serve(
        inbox, tls_context=server_context, require_starttls=True, auth_require_tls=True,
        authenticator=inbox.authenticate,
    )  # fmt: skip
    yield inbox
    controller.stop()


def text(message: Message) -> str:
    """The body as written: SMTP carries line ends as CRLF."""
    return str(message.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


MAIL = Mail(to="somebody@somedomain.com", subject="New voicemail from +16505551212", body="Listen: x.mp3\n")


def test_plain_smtp_on_loopback_delivers(plain_smtp: Inbox) -> None:
    SmtpServer.parse(f"smtp://127.0.0.1:{plain_smtp.port}").send(MAIL, SENDER)
    [(sender, recipients, message)] = plain_smtp.messages
    assert (sender, recipients) == (SENDER, ["somebody@somedomain.com"])
    assert message["Subject"] == "New voicemail from +16505551212"
    assert message["From"] == SENDER
    assert text(message) == "Listen: x.mp3\n"
    assert plain_smtp.tls == [False]


def test_starttls_with_login_delivers(tls_smtp: Inbox) -> None:
    SmtpServer.parse(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{tls_smtp.port}").send(MAIL, SENDER)
    assert tls_smtp.logins == [USER]
    assert tls_smtp.tls == [True]
    [(_, recipients, message)] = tls_smtp.messages
    assert recipients == ["somebody@somedomain.com"]
    assert message["Subject"] == MAIL.subject


def test_an_untrusted_certificate_is_refused(tls_smtp: Inbox, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import trustme

    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    with pytest.raises(MailError, match="SSLCertVerificationError"):
        SmtpServer.parse(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{tls_smtp.port}").send(MAIL, SENDER)
    assert tls_smtp.messages == []
    assert tls_smtp.logins == []  # the password never left over an unverified connection


def test_credentials_are_never_sent_without_starttls(plain_smtp: Inbox) -> None:
    with pytest.raises(MailError, match="does not offer STARTTLS") as error:
        SmtpServer.parse(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{plain_smtp.port}").send(MAIL, SENDER)
    assert PASSWORD not in str(error.value)
    assert plain_smtp.messages == []


def test_a_dead_server_is_a_mail_error_without_secrets() -> None:
    with pytest.raises(MailError) as error:
        SmtpServer.parse(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{free_port()}").send(MAIL, SENDER)
    assert PASSWORD not in str(error.value)
    assert "somebody" not in str(error.value)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("somebody@somedomain.com", True),
        ("first.last+vm@mail.example.co.uk", True),
        ("nobody", False),
        ("a@b", False),
        ("a b@example.com", False),
        ("victim@example.com\r\nBcc: all@example.com", False),
        ("x@example.com,y@example.com", False),
        ("x" * 65 + "@example.com", False),
    ],
)
def test_addresses(value: str, ok: bool) -> None:
    assert is_address(value) is ok


def test_masked_addresses_keep_only_the_domain() -> None:
    assert mask_address("somebody@somedomain.com") == "***@somedomain.com"


# The retry-safe path: queue message -> mailsent claim -> SMTP, once per recording.


def queued_mail(*, peek: bool = False) -> list[str]:
    """The visible voicemail e-mail messages, received (hidden for the queue's visibility timeout) or peeked."""
    from switchboard.adapters.storage import queue_client

    client = queue_client("voicemail-email", base64=False)
    found = client.peek_messages(max_messages=32) if peek else client.receive_messages(max_messages=32)
    return [base64.b64decode(m.content).decode() for m in found]


@pytest.fixture
def mail_queue(azurite: str) -> None:
    from azure.core.exceptions import ResourceExistsError

    from switchboard.adapters.storage import queue_client

    client = queue_client("voicemail-email")
    try:
        client.create_queue()
    except ResourceExistsError:
        client.clear_messages()


def deliver(app, body: str) -> None:
    from azure.functions.queue import QueueMessage

    function(app, "voicemail_email")(QueueMessage(id="q1", body=body.encode(), dequeue_count=1))


def plain_body(message: Message) -> str:
    part = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def message_for(recording_sid: str, record_id: str = "CA" + "0" * 32) -> str:
    """The queue message of an e-mail the app kept beside the record (the queue carries only the ids)."""
    from switchboard.functions.glue_records import store_for
    from switchboard.mail.delivery import mail_fields

    mail_id = f"vm-email-{recording_sid}"
    store_for(get_settings()).keep_mail(record_id, mail_id, mail_fields(MAIL))
    return json.dumps({"id": mail_id, "record_id": record_id})


def test_a_repeated_message_sends_one_email(app, azurite, configure, plain_smtp: Inbox) -> None:
    configure(SMTP_URL=f"smtp://127.0.0.1:{plain_smtp.port}", EMAIL_FROM=SENDER)
    body = message_for("RE" + "1" * 32)
    deliver(app, body)
    deliver(app, body)  # a redelivery, or the same callback queued twice
    assert len(plain_smtp.messages) == 1


def test_a_failed_send_is_retried_and_then_sent_once(app, azurite, configure, plain_smtp: Inbox, caplog) -> None:
    from switchboard.mail.delivery import RetryLater

    body = message_for("RE" + "2" * 32)
    configure(SMTP_URL=f"smtp://127.0.0.1:{free_port()}", EMAIL_FROM=SENDER)  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="switchboard.mail.message"), pytest.raises(RetryLater):
        deliver(app, body)  # the host retries after its visibility timeout, at most maxDequeueCount times
    assert "somebody@" not in caplog.text
    assert "***@somedomain.com" in caplog.text
    configure(SMTP_URL=f"smtp://127.0.0.1:{plain_smtp.port}")
    deliver(app, body)
    deliver(app, body)
    assert len(plain_smtp.messages) == 1


def test_the_retry_bound_is_the_hosts_max_dequeue_count() -> None:
    host = json.loads(Path("host.json").read_text())
    assert host["extensions"]["queues"]["maxDequeueCount"] == 5


# The voicemail twimlet's documented example, end to end: Twilio's callbacks -> queue -> SMTP.

BASE = f"{PUBLIC_BASE_URL}/api/twiml"
CALL = {"CallSid": "CA" + "9" * 32, "From": "+16505551212", "To": "+15005550006", "CallStatus": "in-progress"}


def twimlet(app, url: str, form: dict[str, str]) -> str:
    headers, body = signed_form(url, list(form.items()))
    name = url[len(BASE) + 1 :].split("?", 1)[0]
    request = http_request("POST", url, headers=headers, body=body, route_params={"name": name})
    return xml_of(function(app, "twiml_twimlet")(request))


def callbacks(
    app, example: str, recording_sid: str = "RE" + "7" * 32, *, call: dict[str, str] = CALL, link: str | None = None
) -> dict[str, str]:
    """Greet, then Twilio's recording and transcription callbacks (each sent twice: Twilio retries)."""
    import xml.etree.ElementTree as ET
    from urllib.parse import urljoin

    url = f"{BASE}/{example}"
    record = ET.fromstring(twimlet(app, url, call).removeprefix(DECL)).find("Record")  # noqa: S314
    assert record is not None
    link = link or "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/" + recording_sid
    recording = {**call, "RecordingSid": recording_sid, "RecordingDuration": "12", "RecordingUrl": link}
    for _ in range(2):
        twimlet(app, urljoin(url, record.attrib["recordingStatusCallback"]), recording)
    if "transcribeCallback" in record.attrib:
        said = {**recording, "TranscriptionText": "Please call me back.", "TranscriptionStatus": "completed"}
        del said["RecordingDuration"]  # Twilio's transcribeCallback carries none
        for _ in range(2):
            twimlet(app, urljoin(url, record.attrib["transcribeCallback"]), said)
    return recording


def test_without_smtp_settings_email_is_logged_as_not_configured(app, azurite, configure, mail_queue, caplog) -> None:
    configure(SMTP_URL=None, EMAIL_FROM=None)
    with caplog.at_level(logging.WARNING, logger="switchboard.twimlets"):
        callbacks(app, "voicemail?Email=somebody@somedomain.com&Transcribe=false")
    assert "e-mail is not configured (SMTP_URL and EMAIL_FROM)" in caplog.text
    assert "somebody@" not in caplog.text
    assert queued_mail() == []


def test_a_bad_email_address_is_logged_and_the_voicemail_still_taken(app, azurite, configure, mail_queue, caplog):
    configure(SMTP_URL="smtp://127.0.0.1:2525", EMAIL_FROM=SENDER)
    with caplog.at_level(logging.WARNING, logger="switchboard.twimlets"):
        callbacks(app, "voicemail?Email=not-an-address%0D%0ABcc%3Avictim%40example.com&Transcribe=false")
    assert "voicemail Email is not a valid e-mail address" in caplog.text
    assert "victim" not in caplog.text
    assert queued_mail() == []


def test_the_smtp_password_is_a_secret_of_the_settings(configure) -> None:
    configure(SMTP_URL=f"smtp://{USER}:{PASSWORD}@smtp.example.net:587", EMAIL_FROM=SENDER)
    settings = get_settings()
    assert PASSWORD in settings.secrets
    assert PASSWORD not in repr(settings)


# The recording attached. Its copy is made for real: the media-downloads job fetches it from the Twilio
# emulator over HTTP into Azurite's Blob Storage; then the mail worker attaches it (at most
# VOICEMAIL_EMAIL_ATTACH_MAX_BYTES) or links it, and still sends one e-mail per recording.

VOICEMAIL = "voicemail?Email=somebody@somedomain.com&Transcribe=false"


@dataclass
class Voicemails:
    app: Any
    emulator: Any
    inbox: Inbox
    container: str

    def leave(self, seconds: int = 3, example: str = VOICEMAIL) -> tuple[str, str, str]:
        """A caller leaves a voicemail: (CallSid, RecordingSid, RecordingUrl). Both e-mail and copy are queued."""
        import uuid

        call_sid = "CA" + uuid.uuid4().hex
        sid = self.emulator.media.add_recording(call_sid, duration=seconds)["sid"]
        link = self.emulator.media.recording_url(sid)
        callbacks(self.app, example, sid, call={**CALL, "CallSid": call_sid}, link=link)
        return call_sid, sid, link

    def copy(self) -> int:
        """Run the media-downloads queue function on every queued copy job, as the host would."""
        from azure.functions.queue import QueueMessage

        jobs = queue_client_of("media-downloads").receive_messages(max_messages=32)
        bodies = [base64.b64decode(job.content) for job in jobs]
        for body in bodies:
            function(self.app, "media_download")(QueueMessage(id="m1", body=body, dequeue_count=1))
        return len(bodies)

    def send(self) -> list[str]:
        """Deliver every visible voicemail e-mail message once; returns what each did."""
        from switchboard.functions.glue_twimlets import kept_mail, stored_recording
        from switchboard.mail.delivery import deliver as worker

        return [worker(body, get_settings(), load=kept_mail, find=stored_recording).status for body in queued_mail()]

    def blob(self, name: str) -> Any:
        from switchboard.adapters.storage import blob_service_client

        return blob_service_client().get_container_client(self.container).get_blob_client(name)


def queue_client_of(name: str) -> Any:
    from switchboard.adapters.storage import queue_client

    return queue_client(name, base64=False)


@pytest.fixture
def voicemails(app, azurite, configure, mail_queue, plain_smtp: Inbox) -> Iterator[Voicemails]:
    import uuid

    from tools.emulator.rest import TwilioEmulator

    container = f"rec{uuid.uuid4().hex[:8]}"
    client = queue_client_of("media-downloads")
    try:
        client.create_queue()
    except Exception as error:
        if type(error).__name__ != "ResourceExistsError":
            raise
        client.clear_messages()
    with TwilioEmulator.from_settings(get_settings()) as emulator:
        configure(
            SMTP_URL=f"smtp://127.0.0.1:{plain_smtp.port}", EMAIL_FROM=SENDER, TWILIO_API_BASE_URL=emulator.base_url,
            RECORDINGS_CONTAINER=container, DELETE_RECORDINGS_AT_TWILIO="false",
        )  # fmt: skip
        yield Voicemails(app, emulator, plain_smtp, container)


def head() -> str:
    """The e-mail's text before its last paragraphs (the link, or the note that the recording is attached)."""
    return "You have a new voicemail from +16505551212.\nLength: 12 seconds.\n\n"


@pytest.mark.parametrize("transcribe", [True, False])
def test_the_voicemail_email_example_end_to_end(voicemails: Voicemails, transcribe: bool) -> None:
    """Twilio's documented example: callbacks -> the recording's copy and the e-mail queue -> SMTP, once."""
    example = "voicemail?Email=somebody@somedomain.com" + ("" if transcribe else "&Transcribe=false")
    _, sid, _ = voicemails.leave(seconds=2, example=example)
    voicemails.copy()
    queued = queued_mail()
    assert len(queued) == 2  # both deliveries of the final callback queue it; the worker sends once
    for body in queued:
        deliver(voicemails.app, body)  # the voicemail_email queue function, as the host calls it
    [(sender, recipients, message)] = voicemails.inbox.messages
    assert (sender, recipients) == (SENDER, ["somebody@somedomain.com"])
    assert message["Subject"] == "New voicemail from +16505551212"
    transcript = "Text of the transcribed voicemail:\nPlease call me back.\n\n" if transcribe else ""
    assert plain_body(message) == head() + transcript + "The recording is attached.\n"
    [attachment] = list(message.iter_attachments())  # type: ignore[attr-defined]
    assert attachment.get_content() == voicemails.emulator.media.recording_file(sid)


def test_a_small_recording_is_attached_with_its_stored_type(voicemails: Voicemails) -> None:
    call_sid, sid, _ = voicemails.leave(seconds=3)
    assert voicemails.copy() == 2  # Twilio's recording callback came twice: the same blob, written once
    assert voicemails.send() == ["sent", "duplicate"]
    [(_, recipients, message)] = voicemails.inbox.messages
    assert recipients == ["somebody@somedomain.com"]
    assert plain_body(message) == head() + "The recording is attached.\n"
    [attachment] = list(message.iter_attachments())  # type: ignore[attr-defined]
    stored = voicemails.blob(f"{call_sid}/{sid}.wav")
    assert stored.get_blob_properties().content_settings.content_type == "audio/x-wav"
    assert attachment.get_content_type() == "audio/x-wav"  # the type the audio was stored with
    assert attachment.get_filename() == f"{sid}.wav"
    data = attachment.get_content()
    assert data == stored.download_blob().readall() == voicemails.emulator.media.recording_file(sid)
    assert data[:4] == b"RIFF"
    assert len(data) == 44 + 3 * 8000 * 2  # a real 3 s, 8 kHz, 16-bit WAV


@pytest.mark.parametrize("limit", ["1000", "0"])
def test_a_recording_over_the_limit_is_linked(voicemails: Voicemails, configure, limit: str, caplog) -> None:
    configure(VOICEMAIL_EMAIL_ATTACH_MAX_BYTES=limit)
    call_sid, sid, link = voicemails.leave(seconds=3)  # 48,044 bytes as WAV
    voicemails.copy()
    assert voicemails.blob(f"{call_sid}/{sid}.wav").get_blob_properties().size == 48044
    with caplog.at_level(logging.INFO, logger="switchboard.mail.message"):
        assert voicemails.send() == ["sent", "duplicate"]
    [(_, _, message)] = voicemails.inbox.messages
    assert not message.is_multipart()
    assert list(message.iter_attachments()) == []  # type: ignore[attr-defined]
    assert text(message) == head() + f"Listen to the message:\n{link}.mp3\n"
    reason = "it is 48044 bytes, over VOICEMAIL_EMAIL_ATTACH_MAX_BYTES (1000)" if limit == "1000" else "is 0"
    assert reason in caplog.text


def test_an_email_that_runs_before_the_copy_waits_for_it_then_attaches_once(
    voicemails: Voicemails, monkeypatch
) -> None:
    from switchboard.mail import delivery

    monkeypatch.setattr(delivery, "WAIT_SECONDS", 0)  # the requeued look is visible at once, not in 30 s
    _, sid, _ = voicemails.leave(seconds=2)
    assert voicemails.send() == ["waiting", "waiting"]  # no copy yet: both deliveries queued again
    assert voicemails.inbox.messages == []
    waiting = [json.loads(body) for body in queued_mail(peek=True)]
    assert [message["waits"] for message in waiting] == [1, 1]
    assert all(set(message) == {"id", "record_id", "waits"} for message in waiting)  # ids only, no content
    assert all(message["id"] == f"vm-email-{sid}" for message in waiting)
    voicemails.copy()
    assert voicemails.send() == ["sent", "duplicate"]
    [(_, _, message)] = voicemails.inbox.messages
    [attachment] = list(message.iter_attachments())  # type: ignore[attr-defined]
    assert attachment.get_content() == voicemails.emulator.media.recording_file(sid)
    assert queued_mail() == []


def test_the_wait_for_a_copy_is_bounded_then_the_email_links_it(voicemails: Voicemails, monkeypatch) -> None:
    from switchboard.mail import delivery

    monkeypatch.setattr(delivery, "WAIT_SECONDS", 0)
    _, _, link = voicemails.leave(seconds=2)  # its copy never runs
    outcomes: list[list[str]] = []
    for _ in range(delivery.MAX_WAITS + 3):  # bounded: the chain must end well within this
        done = voicemails.send()
        if not done:
            break
        outcomes.append(done)
    assert outcomes == [["waiting", "waiting"]] * delivery.MAX_WAITS + [["sent", "duplicate"]]
    [(_, _, message)] = voicemails.inbox.messages
    assert text(message) == head() + f"Listen to the message:\n{link}.mp3\n"


def test_a_failed_read_of_the_copy_is_looked_past_like_a_missing_one(voicemails: Voicemails, monkeypatch) -> None:
    from switchboard.functions.glue_twimlets import kept_mail, stored_recording
    from switchboard.mail import delivery
    from switchboard.mail.message import RecordingRef

    monkeypatch.setattr(delivery, "WAIT_SECONDS", 0)
    _, sid, _ = voicemails.leave(seconds=2)
    voicemails.copy()
    failures = iter([OSError("storage hiccup")] * 2)

    def flaky(recording: RecordingRef, limit: int) -> Any:
        """Storage refusing the first two reads (no local stand-in makes Azurite fail on cue)."""
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return stored_recording(recording, limit)

    outcomes = [delivery.deliver(body, get_settings(), load=kept_mail, find=flaky).status for body in queued_mail()]
    assert outcomes == ["waiting", "waiting"]
    assert voicemails.inbox.messages == []
    assert [delivery.deliver(body, get_settings(), load=kept_mail, find=flaky).status for body in queued_mail()] == [
        "sent", "duplicate",
    ]  # fmt: skip
    [(_, _, message)] = voicemails.inbox.messages
    [attachment] = list(message.iter_attachments())  # type: ignore[attr-defined]
    assert attachment.get_content() == voicemails.emulator.media.recording_file(sid)


def test_an_mp3_copy_is_attached_as_audio_mpeg(voicemails: Voicemails) -> None:
    """Twilio's recordings are WAV or MP3: the attachment carries the type the blob was stored with."""
    from azure.storage.blob import ContentSettings

    from switchboard.functions.glue_records import store_for
    from switchboard.records.store import utcnow

    call_sid, sid, _ = voicemails.leave(seconds=2)
    name = f"{call_sid}/{sid}.mp3"
    audio = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 100
    container = voicemails.blob(name).container_name
    from switchboard.adapters.storage import blob_service_client

    blobs = blob_service_client().get_container_client(container)
    try:
        blobs.create_container()
    except Exception as error:
        if type(error).__name__ != "ResourceExistsError":
            raise
    blobs.upload_blob(name, audio, content_settings=ContentSettings(content_type="audio/mpeg"))
    store = store_for(get_settings())
    store.update(call_sid, lambda record: record.with_blob(utcnow(), name))  # what a finished copy leaves
    assert voicemails.send() == ["sent", "duplicate"]
    [(_, _, message)] = voicemails.inbox.messages
    [attachment] = list(message.iter_attachments())  # type: ignore[attr-defined]
    assert (attachment.get_content_type(), attachment.get_filename()) == ("audio/mpeg", f"{sid}.mp3")
    assert attachment.get_content() == audio


@pytest.mark.parametrize(
    ("declared", "name", "attached_as"),
    [
        ("audio/x-wav", "RE1.wav", "audio/x-wav"),
        ("audio/mpeg", "RE1.mp3", "audio/mpeg"),
        ("Audio/MPEG; charset=binary", "RE1.bin", "audio/mpeg"),
        ("application/octet-stream", "RE1.wav", "audio/x-wav"),
        (None, "RE1.mp3", "audio/mpeg"),
        ("application/octet-stream", "RE1.bin", None),
        ("image/png", "RE1.wav", None),
        ("text/html", "RE1.mp3", None),
    ],
)
def test_the_attachment_type_is_the_stored_audio_type(declared: str | None, name: str, attached_as: str | None) -> None:
    from switchboard.mail.message import attachment_type

    assert attachment_type(declared, name) == attached_as


def test_the_attach_limit_is_a_checked_setting() -> None:
    from switchboard.settings import Settings, SettingsError

    minimal = {"TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": "secret-token-value"}
    assert Settings.from_env(minimal).voicemail_email_attach_max_bytes == 5_000_000
    assert Settings.from_env(minimal | {"VOICEMAIL_EMAIL_ATTACH_MAX_BYTES": "0"}).voicemail_email_attach_max_bytes == 0
    for bad in ("5MB", "-1", "15000001"):
        with pytest.raises(SettingsError, match="VOICEMAIL_EMAIL_ATTACH_MAX_BYTES"):
            Settings.from_env(minimal | {"VOICEMAIL_EMAIL_ATTACH_MAX_BYTES": bad})


# Issue 20 points 4 and 7: the queue is no way in, and holds nothing erasure must reach.


def test_a_forged_message_sends_nothing(app, azurite, configure, plain_smtp: Inbox, caplog) -> None:
    """Before, any queue writer could make the app send an arbitrary e-mail from EMAIL_FROM through SMTP_URL."""
    configure(SMTP_URL=f"smtp://127.0.0.1:{plain_smtp.port}", EMAIL_FROM=SENDER)
    forged = [
        {"id": "vm-email-RE" + "7" * 32, "to": "victim@example.com", "subject": "Reset", "body": "click"},
        {"id": "vm-email-RE" + "7" * 32, "record_id": "CA" + "7" * 32},  # ids the app never prepared
        {"id": "vm-email-RE" + "7" * 32, "record_id": "CA" + "7" * 32, "to": "victim@example.com"},
        {"id": "vm-email-../#?" + "7" * 32, "record_id": "CA" + "7" * 32},  # no table key of that shape is read
    ]
    for message in forged:
        deliver(app, json.dumps(message))
    deliver(app, "[" * 100_000)  # nested past the recursion limit: dropped, not retried into the poison queue
    assert plain_smtp.messages == []


def test_an_erased_voicemail_sends_no_email_and_the_queue_holds_no_content(voicemails: Voicemails) -> None:
    from switchboard.functions.glue_records import store_for
    from switchboard.records.forget import erase_number

    voicemails.leave(seconds=2)
    queued = queued_mail(peek=True)
    assert queued
    for body in queued:
        assert "+16505551212" not in body
        assert "somedomain" not in body
        assert "Please call" not in body
    erase_number(store_for(get_settings()), "+16505551212", lambda _: 0, salt="s")
    assert voicemails.send() == ["gone"] * len(queued)
    assert voicemails.inbox.messages == []
