"""pyrnn.check_finite: the opt-in mode that raises at the first NaN/Inf in an op's inputs or outputs
(`pyrnn.ops` calls `assert_finite` around every op while it is on)."""
from __future__ import annotations

import contextlib
import contextvars
import os

import numpy as np

from ._arrays import get_xp, is_array


class NonFiniteError(FloatingPointError):
    """A NaN or Inf in an op's input or output while `pyrnn.check_finite` is on.
    Attributes: op, argument, index (a tuple), value."""

    def __init__(self, op, argument, index, value, role):
        self.op, self.argument, self.index, self.value = op, argument, index, value
        super().__init__(f"{op}: non-finite {role} {argument}[{', '.join(map(str, index))}] = {value} "
                         f"(pyrnn.check_finite is on; it stops at the first NaN/Inf)")


_finite: contextvars.ContextVar[bool | None] = contextvars.ContextVar("pyrnn_check_finite", default=None)


@contextlib.contextmanager
def check_finite(enabled: bool = True):
    """Raise `NonFiniteError` on the first NaN/Inf in any float input or output of a pyrnn op
    inside this context (this thread/task); ``PYRNN_CHECK_FINITE=1`` turns it on everywhere.
    Off by default: NaN and Inf then propagate like in NumPy. Costs one pass over every
    float argument and result of every op.

    >>> with pyrnn.check_finite():
    ...     loss = model.forward(xs, ts)
    """
    token = _finite.set(bool(enabled))
    try:
        yield
    finally:
        _finite.reset(token)


def finite_checks_on() -> bool:
    on = _finite.get()
    if on is None:
        on = os.environ.get("PYRNN_CHECK_FINITE", "0").strip().lower() not in ("", "0", "false", "no", "off")
    return on


def assert_finite(op: str, name: str, x, role: str):
    """NonFiniteError at the first non-finite element of a float array x (others pass)."""
    if not is_array(x) or x.dtype.kind not in "fc":
        return
    bad = ~get_xp(x).isfinite(x)
    if not bool(bad.any()):
        return
    first = int(bad.ravel().argmax())
    index = tuple(int(i) for i in np.unravel_index(first, tuple(x.shape)))
    raise NonFiniteError(op, name, index, x.ravel()[first].item(), role)
