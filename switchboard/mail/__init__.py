"""The voicemail e-mail feature: the message (pure), its once-only, retried delivery over SMTP."""
