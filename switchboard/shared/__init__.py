"""Shared leaves: the shapes every layer uses (numbers, SIDs, URLs, text limits), log masking, telemetry.

They import nothing above them."""
