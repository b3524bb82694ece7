"""Recordings and MMS media copied from Twilio into the user's own Blob Storage."""
