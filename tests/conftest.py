"""Shared pytest fixtures."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """Small problems run much faster on one thread when the CPU is shared (thread sync overhead)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def res():
    """The app's shared encoders / banks / pipelines, one for the whole test session (as one app process has)."""
    from hen_demo.ui.resources import Resources

    return Resources()
