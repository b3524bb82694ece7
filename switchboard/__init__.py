"""Switchboard: Twilio voice and SMS on Azure Functions."""

__version__ = "0.1.0"
