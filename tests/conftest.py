"""Shared fixtures: the usable backends, so every backend runs the same tests."""
import pytest

from pyrnn import backends


def usable_numpy_backends():
    return [n for n in backends.NUMPY_ORDER if backends.backend_status()[n][0]]


@pytest.fixture(params=usable_numpy_backends())
def numpy_backend(request):
    """Runs the test once per usable NumPy backend, with that backend forced."""
    with backends.use_backend(request.param):
        yield request.param
