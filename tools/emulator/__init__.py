"""A local Twilio emulator for development and tests: Twilio's REST contract on 127.0.0.1, no account needed.

It is a stand-in, never a way to reach real phones.
"""
