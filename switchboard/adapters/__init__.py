"""Adapters: the one place storage and Twilio clients are built, and the inventory of what the app uses."""
