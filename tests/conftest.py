"""One real detector per test session (loading CRAFT costs seconds)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def detector():
    """The real CRAFT detector, loaded once for the whole test session."""
    from scrubber.detect.registry import detector_for
    from scrubber.policy import Policy

    return detector_for(Policy(device="cpu"))
