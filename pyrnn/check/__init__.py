"""Gradient checks as a feature: compare a layer's analytic gradients with central
finite differences in float64.

    report = pyrnn.gradcheck(TimeLSTM(Wx, Wh, b), xs)
    print(report)            # one row per parameter / input / initial state
    assert report.max_error < 1e-6

The scalar checked is  L = sum_i <out_i, R_i>  with fixed random R_i for every
float output of ``forward`` (R = 1 for a scalar loss), so ``backward(*R)``
must return dL/d(inputs) and write dL/d(params) into ``grads``. For a stateful
recurrent layer whose state is set, the gradient w.r.t. that initial state
(``.dh``, ``.dc``) is checked too. Errors are normwise relative
(see `numeric.rel_error`), with a floor of 1e-3 times the largest gradient
of the check so that a gradient that is exactly 0 (an attention key bias) is
compared against finite-difference noise, not against itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .numeric import numerical_gradient, rel_error

__all__ = ["gradcheck", "GradcheckReport", "numerical_gradient", "rel_error"]

DEFAULT_TOL = 1e-6


@dataclass
class GradcheckReport:
    """Rows of (name, shape, normwise relative error)."""

    rows: list = field(default_factory=list)

    @property
    def max_error(self) -> float:
        return max((e for _, _, e in self.rows), default=0.0)

    def ok(self, tol: float = DEFAULT_TOL) -> bool:
        return bool(self.rows) and self.max_error < tol

    def __str__(self):
        w = max([len(n) for n, _, _ in self.rows] + [4])
        lines = [f"{'name':<{w}}  {'shape':<16} rel. error"]
        lines += [f"{n:<{w}}  {str(s):<16} {e:.2e}" for n, s, e in self.rows]
        return "\n".join(lines)


def _float_arrays(xs):
    return [(i, x) for i, x in enumerate(xs) if isinstance(x, np.ndarray) and x.dtype.kind == "f"]


def _as_tuple(x):
    if x is None:
        return ()
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def gradcheck(layer, *inputs, eps: float = 1e-5, seed: int = 0) -> GradcheckReport:
    """Check `layer`'s backward against finite differences; see the module docstring.

    layer: any object with ``forward``, ``backward``, ``params``, ``grads`` (a book-style
    layer). inputs: the positional arguments of ``forward``; all float arrays (inputs and
    params) must be float64 NumPy arrays. The global NumPy RNG is reseeded before every
    forward (so dropout masks repeat) and restored afterwards.
    """
    params = list(getattr(layer, "params", []))
    for i, p in enumerate(params):
        if not isinstance(p, np.ndarray) or p.dtype != np.float64:
            raise TypeError(f"params[{i}]: gradcheck needs float64 NumPy arrays, got "
                            f"{getattr(p, 'dtype', type(p).__name__)}")
    for i, x in _float_arrays(inputs):
        if x.dtype != np.float64:
            raise TypeError(f"inputs[{i}]: gradcheck needs float64 arrays, got {x.dtype}")
    # perturbed in place: work on private contiguous copies of the inputs
    inputs = tuple(np.array(x) if isinstance(x, np.ndarray) else x for x in inputs)
    state_names = [s for s in ("h", "c") if getattr(layer, "stateful", False)
                   and isinstance(getattr(layer, s, None), np.ndarray)]
    states = {s: np.array(getattr(layer, s), dtype=np.float64) for s in state_names}

    rng_state = np.random.get_state()
    try:
        def run():
            for s, v in states.items():  # stateful layers: every forward starts from the same state
                setattr(layer, s, v)
            np.random.seed(seed)
            return layer.forward(*inputs)

        out = _as_tuple(run())
        weights = np.random.default_rng(seed + 1)
        Rs = [weights.standard_normal(np.shape(o)) if np.ndim(o) else 1.0 for o in out]

        def loss():
            return sum(float(np.sum(np.asarray(o) * R)) for o, R in zip(_as_tuple(run()), Rs))

        run()
        back = _as_tuple(layer.backward(*Rs))
        analytic_params = [np.array(g) for g in layer.grads]
        analytic_states = {s: np.array(getattr(layer, "d" + s)) for s in states}

        pairs = []  # (name, shape, analytic, numeric)
        for i, (p, g) in enumerate(zip(params, analytic_params)):
            pairs.append((f"params[{i}]", p.shape, g, numerical_gradient(loss, p, eps)))
        for (i, x), g in zip(_float_arrays(inputs), back):
            if g is not None:
                pairs.append((f"inputs[{i}]", x.shape, g, numerical_gradient(loss, x, eps)))
        for s, v in states.items():
            pairs.append((f"initial {s}", v.shape, analytic_states[s], numerical_gradient(loss, v, eps)))
        # Finite-difference noise is ~1e-10 |L|; a tensor whose true gradient is 0 is judged
        # against 1e-3 of the largest gradient of the check instead of against its own ~0 scale.
        floor = 1e-3 * max((float(np.abs(n).max(initial=0.0)) for *_, n in pairs), default=0.0)
        report = GradcheckReport()
        report.rows = [(name, tuple(shape), rel_error(a, n, floor)) for name, shape, a, n in pairs]
        return report
    finally:
        np.random.set_state(rng_state)
