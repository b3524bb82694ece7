"""Outbound calls and SMS: the message contract, Twilio parameters (pure) and the queue worker (shell)."""
