"""A small local Functions host for development and tests. NOT the Azure Functions host.

It serves the app's own function metadata (`app.get_functions()`): HTTP triggers
at /api/<route>, and queue triggers polled from Azurite with the host's
semantics from host.json. In Azure, and under `func start`, the real host runs
the app and this package is never imported.
"""
