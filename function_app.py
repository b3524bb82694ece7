"""Switchboard's Azure Functions entry point: create the app, register one blueprint per area."""

import azure.functions as func

from switchboard.functions import (
    dashboard,
    events,
    health,
    mail,
    media,
    outbound,
    privacy,
    records,
    sms,
    status,
    twiml,
    voice,
)
from switchboard.shared.logs import install as install_log_masking

install_log_masking()
# Telemetry configures itself on the first span (switchboard/shared/telemetry.py), not here: the exporter's
# import would otherwise be most of every cold start.

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(voice.bp)
app.register_functions(sms.bp)
app.register_functions(twiml.bp)
app.register_functions(outbound.bp)
app.register_functions(status.bp)
app.register_functions(records.bp)
app.register_functions(dashboard.bp)
app.register_functions(health.bp)
app.register_functions(mail.bp)
app.register_functions(media.bp)
app.register_functions(privacy.bp)
app.register_functions(events.bp)
