"""The dispatcher: automatic choice by array type, forcing by use_backend / PYRNN_BACKEND,
saved tagged with its backend, clear errors for unknown or unusable backends."""
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import pyrnn
from pyrnn import backends, ops


def _xs():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((2, 3, 4)).astype(np.float32), rng.standard_normal((4, 5)).astype(np.float32),
            rng.standard_normal((5, 5)).astype(np.float32))


def test_reference_is_always_usable():
    assert backends.backend_status()["reference"][0]


def test_every_unusable_backend_says_why():
    for name, (ok, detail) in backends.backend_status().items():
        assert detail, f"{name}: no reason/description given"


def test_use_backend_forces_and_restores():
    xs, Wx, Wh = _xs()
    before = backends.current_forced()  # PYRNN_BACKEND, when the suite runs with one forced
    with pyrnn.use_backend("reference"):
        assert backends.current_forced() == "reference"
        _, _, saved = ops.rnn_forward(xs, Wx, Wh)
        assert saved.backend.NAME == "reference"
    assert backends.current_forced() == before


def test_backward_runs_on_the_forward_backend():
    xs, Wx, Wh = _xs()
    with pyrnn.use_backend("reference"):
        hs, _, saved = ops.rnn_forward(xs, Wx, Wh)
    # outside the context the automatic choice may differ; the saved backend still wins
    dxs, *_ = ops.rnn_backward(np.ones_like(hs), None, saved)
    assert dxs.shape == xs.shape


def test_unknown_backend_is_a_value_error():
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        with pyrnn.use_backend("nope"):
            pass


def test_unusable_backend_raises_with_reason(monkeypatch):
    monkeypatch.setitem(backends._MODULES, "ghost", "pyrnn.backends.ghost_not_written")
    with pytest.raises(pyrnn.BackendUnavailable, match="not implemented yet"):
        with pyrnn.use_backend("ghost"):
            pass
    assert backends.backend_status()["ghost"] == (False, "not implemented yet")
    backends._failed.pop("ghost")


def test_environment_variable_forces_backend():
    code = ("import numpy as np, pyrnn\n"
            "from pyrnn import ops\n"
            "x = np.ones((1, 2, 3), np.float32)\n"
            "print(ops.rnn_forward(x, np.ones((3, 2), np.float32), np.ones((2, 2), np.float32))[2].backend.NAME)\n")
    out = subprocess.run([sys.executable, "-c", code], env={**_env(), "PYRNN_BACKEND": "reference"},
                         capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    assert out.stdout.strip() == "reference"
    bad = subprocess.run([sys.executable, "-c", code], env={**_env(), "PYRNN_BACKEND": "nope"},
                         capture_output=True, text=True, cwd=tempfile.gettempdir())
    assert bad.returncode != 0 and "unknown backend 'nope'" in bad.stderr


def _env():
    import os
    return {k: v for k, v in os.environ.items() if k != "PYRNN_BACKEND"}


def test_cupy_arrays_are_rejected_by_a_forced_numpy_only_backend():
    cp = pytest.importorskip("cupy")
    usable_numpy_only = [n for n in backends.NUMPY_ORDER
                         if backends.backend_status()[n][0] and "cupy" not in backends.get(n).ARRAYS]
    if not usable_numpy_only:
        pytest.skip("no NumPy-only backend is usable here")
    x = cp.ones((1, 2, 3), cp.float32)
    with pyrnn.use_backend(usable_numpy_only[0]), pytest.raises(TypeError, match="cupy arrays"):
        ops.rnn_forward(x, cp.ones((3, 2), cp.float32), cp.ones((2, 2), cp.float32))
