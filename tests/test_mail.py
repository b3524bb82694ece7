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


def queued_mail() -> list[str]:
    from switchboard.adapters.storage import queue_client

    return [base64.b64decode(m.content).decode() for m in queue_client("voicemail-email", base64=False)
            .receive_messages(max_messages=32)]  # fmt: skip


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


def message_for(recording_sid: str) -> str:
    return json.dumps({"id": f"vm-email-{recording_sid}", "to": MAIL.to, "subject": MAIL.subject, "body": MAIL.body})


@pytest.mark.azurite
def test_a_repeated_message_sends_one_email(app, azurite, configure, plain_smtp: Inbox) -> None:
    configure(SMTP_URL=f"smtp://127.0.0.1:{plain_smtp.port}", EMAIL_FROM=SENDER)
    body = message_for("RE" + "1" * 32)
    deliver(app, body)
    deliver(app, body)  # a redelivery, or the same callback queued twice
    assert len(plain_smtp.messages) == 1


@pytest.mark.azurite
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


def callbacks(app, example: str, recording_sid: str = "RE" + "7" * 32) -> dict[str, str]:
    """Greet, then Twilio's recording and transcription callbacks (each sent twice: Twilio retries)."""
    import xml.etree.ElementTree as ET
    from urllib.parse import urljoin

    url = f"{BASE}/{example}"
    record = ET.fromstring(twimlet(app, url, CALL).removeprefix(DECL)).find("Record")  # noqa: S314
    assert record is not None
    link = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/" + recording_sid
    recording = {**CALL, "RecordingSid": recording_sid, "RecordingDuration": "12", "RecordingUrl": link}
    for _ in range(2):
        twimlet(app, urljoin(url, record.attrib["recordingStatusCallback"]), recording)
    if "transcribeCallback" in record.attrib:
        said = {**recording, "TranscriptionText": "Please call me back.", "TranscriptionStatus": "completed"}
        del said["RecordingDuration"]  # Twilio's transcribeCallback carries none
        for _ in range(2):
            twimlet(app, urljoin(url, record.attrib["transcribeCallback"]), said)
    return recording


@pytest.mark.azurite
@pytest.mark.parametrize("transcribe", [True, False])
@pytest.mark.usefixtures("azurite", "mail_queue")
def test_the_voicemail_email_example_end_to_end(app, configure, plain_smtp: Inbox, transcribe: bool) -> None:
    configure(SMTP_URL=f"smtp://127.0.0.1:{plain_smtp.port}", EMAIL_FROM=SENDER)
    example = "voicemail?Email=somebody@somedomain.com" + ("" if transcribe else "&Transcribe=false")
    recording = callbacks(app, example, "RE" + ("a" if transcribe else "b") * 32)
    queued = queued_mail()
    assert len(queued) == 2  # both deliveries of the final callback queue it; the worker sends once
    for body in queued:
        deliver(app, body)
    [(sender, recipients, message)] = plain_smtp.messages
    assert (sender, recipients) == (SENDER, ["somebody@somedomain.com"])
    assert message["Subject"] == "New voicemail from +16505551212"
    transcript = "\nText of the transcribed voicemail:\nPlease call me back.\n" if transcribe else ""
    assert text(message) == (
        "You have a new voicemail from +16505551212.\nLength: 12 seconds.\n"
        f"{transcript}\nListen to the message:\n{recording['RecordingUrl']}.mp3\n"
    )


@pytest.mark.azurite
def test_without_smtp_settings_email_is_logged_as_not_configured(app, azurite, configure, mail_queue, caplog) -> None:
    configure(SMTP_URL=None, EMAIL_FROM=None)
    with caplog.at_level(logging.WARNING, logger="switchboard.twimlets"):
        callbacks(app, "voicemail?Email=somebody@somedomain.com&Transcribe=false")
    assert "e-mail is not configured (SMTP_URL and EMAIL_FROM)" in caplog.text
    assert "somebody@" not in caplog.text
    assert queued_mail() == []


@pytest.mark.azurite
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
