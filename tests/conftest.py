"""Test-suite settings shared by every test.

Hypothesis runs derandomized (examples derived from each test's source, no example database), so
the suite gives the same result on every run and machine; `d1c fuzz` is where random exploration
happens. Deadlines are off: the 2-core CI machine is shared and timings are noisy.
"""

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "d1c",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("d1c")


@pytest.fixture
def dealt(monkeypatch):
    """``place`` deals the tile pass's matmul tiles to cores (no systolic grid): for tests whose
    hand counts (cores, DMA bytes, cycles) are about the dealt plan."""
    from d1c.passes import place

    monkeypatch.setattr(place, "systolic_layout", lambda *a: None)
