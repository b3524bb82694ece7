"""Policies parsed from settings: where the app may dial or text, business hours. Pure; above the shared leaves only."""
