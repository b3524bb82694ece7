"""echo: returns `Twiml` verbatim. Remote TwiML injection by design, so off unless TWIML_ECHO_ENABLED=true."""

from __future__ import annotations

from twilio.twiml import TwiML

from switchboard.twiml.twimlets.base import BadParameter, Call

ECHO_LIMIT = 16 * 1024  # this twimlet's own bound on `Twiml` (not the Calls API's 4,000: echo answers a webhook)


class Verbatim(TwiML):
    """A checked TwiML document, served exactly as given."""

    def __init__(self, text: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.text = text

    def to_xml(self, xml_declaration: bool = True) -> str:
        return self.text


def echo(call: Call) -> TwiML:
    if not call.config.echo_enabled:
        raise BadParameter("echo is off; set TWIML_ECHO_ENABLED=true to serve it")
    text = (call.query.get("Twiml") or "").strip()  # the signed URL only: a form field cannot inject TwiML
    check(text)
    return Verbatim(text)


def check(text: str) -> None:
    """A <Response> document, small, without DTDs (no entity expansion tricks)."""
    import xml.etree.ElementTree as ET

    if not text:
        raise BadParameter("Twiml is required")
    if len(text) > ECHO_LIMIT:
        raise BadParameter(f"Twiml is over {ECHO_LIMIT} characters")
    if "<!" in text:
        raise BadParameter("Twiml may not carry a DOCTYPE, entity or CDATA section")
    try:
        root = ET.fromstring(text)  # noqa: S314 - no DTD can reach the parser (refused above)
    except ET.ParseError as error:
        raise BadParameter(f"Twiml does not parse: {error}") from None
    if root.tag != "Response":
        raise BadParameter(f"Twiml has root <{root.tag[:40]}>, not <Response>")
