"""The voicemail e-mail queue: `voicemail-email` -> SMTP, once per recording (see switchboard.mail.delivery)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name="voicemail-email", connection="AzureWebJobsStorage")
def voicemail_email(msg: func.QueueMessage) -> None:
    from switchboard.functions.glue_twimlets import kept_mail, stored_recording
    from switchboard.mail.delivery import deliver
    from switchboard.settings import get_settings  # on the first message, not at every cold start

    deliver(msg.get_body(), get_settings(), load=kept_mail, find=stored_recording)
