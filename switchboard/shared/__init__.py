"""Shared leaves: the shapes every layer uses (phones, sids, urls, text, e-mail addresses), log masking, telemetry.

They import nothing above them."""
