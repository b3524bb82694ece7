"""The session-wide leak check: collected here, run after every other test (see tests/leakguard.py)."""

from tests.leakguard import test_nothing_leaked

__all__ = ["test_nothing_leaked"]
