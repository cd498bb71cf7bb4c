"""Shared fixtures. ``ray_session``: one local Ray for the whole test session (2 CPUs), started
on first use and shut down at the end; tests that need Ray request it."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_session():
    """The session's Ray; ``sweeps.runner`` reuses an initialised Ray instead of starting one."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        yield ray
        return
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()
