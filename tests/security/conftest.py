from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Modest example counts keep `make test` fast; CI runs the same examples every time.
settings.register_profile(
    "switchboard",
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "120")),
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
settings.load_profile("switchboard")
