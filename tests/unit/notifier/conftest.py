"""Fixtures of the notifier's unit tests (the rig itself is ``rig.py``)."""

from __future__ import annotations

import pytest

from tests.unit.notifier.rig import Rig, unit_settings


@pytest.fixture
def rig() -> Rig:
    """A rig with the unit settings; modules that need other settings define their own ``rig``."""
    return Rig(unit_settings())
