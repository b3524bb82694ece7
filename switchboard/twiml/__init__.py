"""Pure TwiML flows: each takes parameters and settings and returns a TwiML response object."""
