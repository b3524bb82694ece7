"""Fault-injection runs against the real local stack: Azurite on disk, the Twilio emulator, the local host.

`python -m chaos` (or `make chaos`) proves the outbound promises under faults and prints a table;
`python -m chaos.load` holds the webhook routes at a steady rate. Development tools, not part of the app.
"""
