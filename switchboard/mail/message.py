"""E-mail for the voicemail twimlet's `Email`: the message, and sending it over SMTP.

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

if TYPE_CHECKING:
    from email.message import EmailMessage

SMTP_TIMEOUT_SECONDS = 15
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class MailError(RuntimeError):
    """Sending failed; the queue retries the message (a bounded number of times)."""


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str

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
