"""E-mail for the voicemail twimlet's `Email`: the message (with its recording attached), and sending it over SMTP.

`SMTP_URL` is `smtp://user:password@host:587`: the connection is upgraded with STARTTLS
(certificate and host name checked) before the password is sent. `smtps://host:465` is TLS from
the start. Only a loopback host (a local test or relay) may be used without TLS, and only when it
does not offer STARTTLS. Addresses never reach the logs: `shared.addresses.mask_address` shows the
domain only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from switchboard.records.ids import is_record_id
from switchboard.shared.sids import is_recording_sid

if TYPE_CHECKING:
    from email.message import EmailMessage

SMTP_TIMEOUT_SECONDS = 15
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
# Twilio's recordings are WAV (`audio/x-wav`, what the copy stores) or MP3 (`audio/mpeg`).
AUDIO_TYPES = {"wav": "audio/x-wav", "mp3": "audio/mpeg"}


class MailError(RuntimeError):
    """Sending failed; the queue retries the message (a bounded number of times)."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # `audio/x-wav`: the type the audio was stored with
    data: bytes


@dataclass(frozen=True)
class Absent:
    """Why a recording is linked rather than attached; `wait`: it may still arrive (the copy has not run)."""

    reason: str
    wait: bool = False


@dataclass(frozen=True)
class RecordingRef:
    """The voicemail's recording, for the mail worker: attach its Blob Storage copy if it is small enough.

    `body` is the e-mail's text when the recording is attached (the queued body links it instead).
    """

    record_id: str
    sid: str
    body: str

    @classmethod
    def parse(cls, data: object) -> RecordingRef | None:
        """From a queue message; anything malformed is ignored (the e-mail then links the recording)."""
        if not isinstance(data, dict):
            return None
        record_id, sid, body = data.get("record_id"), data.get("sid"), data.get("body")
        if not isinstance(record_id, str) or not isinstance(sid, str) or not isinstance(body, str):
            return None
        # Both name the blob (`<record id>/<RecordingSid>.wav`): each must fullmatch its shape.
        if not is_record_id(record_id) or not is_recording_sid(sid):
            return None
        return cls(record_id, sid, body)

    def to_json(self) -> dict[str, str]:
        return {"record_id": self.record_id, "sid": self.sid, "body": self.body}


def attachment_type(declared: str | None, filename: str) -> str | None:
    """The MIME type to attach stored audio with: its stored type, else its extension's; None if not audio."""
    kind = (declared or "").split(";", 1)[0].strip().lower()
    if kind.startswith("audio/"):
        return kind
    if kind in ("", "application/octet-stream", "binary/octet-stream"):
        return AUDIO_TYPES.get(filename.rpartition(".")[2].lower())
    return None


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    attachments: tuple[Attachment, ...] = ()

    def message(self, sender: str) -> EmailMessage:
        from email.message import EmailMessage
        from email.utils import formatdate, make_msgid

        message = EmailMessage()
        message["From"] = sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
        message.set_content(self.body)
        for attachment in self.attachments:
            maintype, _, subtype = attachment.content_type.partition("/")
            message.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
        return message


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    user: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname or "",
            port=parts.port or (465 if implicit else 587),
            implicit_tls=implicit,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def send(self, mail: Mail, sender: str) -> None:
        """Deliver one message; raise MailError (never with the password or the address in it)."""
        import smtplib
        import ssl

        context = ssl.create_default_context()
        try:
            if self.implicit_tls:
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS, context=context
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS)
            with client:
                client.ehlo()
                if not self.implicit_tls:
                    if client.has_extn("starttls"):
                        client.starttls(context=context)
                        client.ehlo()
                    elif self.host not in _LOOPBACK or self.user:
                        raise MailError(f"{self.host} does not offer STARTTLS; refusing to send in the clear")
                if self.user and self.password:
                    client.login(self.user, self.password)
                refused = client.send_message(mail.message(sender))
                if refused:
                    raise MailError(f"the server refused the recipient ({len(refused)} refused)")
        except MailError:
            raise
        except (smtplib.SMTPException, OSError) as error:
            raise MailError(f"SMTP to {self.host}:{self.port} failed: {type(error).__name__}") from None
