"""The attention cases of the numba-cuda backend, run two ways by test_numba_cuda_attention.py.

* Under Numba's CUDA simulator, on NumPy arrays, where no GPU exists: the simulator must be on before
  numba is imported, so the test runs this file in a subprocess
  (``NUMBA_ENABLE_CUDASIM=1 python tests/numba_cuda_attention_cases.py``), which calls the backend
  module directly and prints one JSON line per case: [case id, error message or null].
* On a GPU, on CuPy arrays through `pyrnn.ops` with the backend forced (the same `check`).

The cases (shapes, masks, the generators s2s_case and sdpa_case) and the tolerance norm are
tests/cases/attention.py's and tests/cases/core.py's (float32 1e-5, float64 1e-12 of the reference
tensor's largest magnitude; the kernels sum in another order than NumPy, a strided loop per thread, then
a tree over the block, and the blocked SDPA recomputes the weights as exp(s - lse) rather than
exp(s - m) / z: a few ulp per term, while a wrong term is an O(1) error). Masked keys and queries that
see no key are checked for exact zeros, and a case is run twice for bitwise equal results.

The shapes are small because the simulator runs every CUDA thread as a Python thread and every
block one after the other (a block per score row): the CPU suite's kinds of shapes (single elements,
Td > Te, Tq != Tk both ways, dk != dv, a longer key row than one block of threads covers many times,
the corners N = 0, Td = 0, H = 0, Tq = 0), not its sizes.
"""
from __future__ import annotations

import contextlib
import itertools

import numpy as np

import cases.attention as cases_attention
from cases.attention import (MASKS, S2S_CORNERS as ATTN_CORNERS, SIMULATOR_BLOCKED_CASES as BLOCKED_CASES,
                             SIMULATOR_NAN_S2S_SHAPES as NAN_ATTN_SHAPES, SIMULATOR_NAN_SDPA_CASES as NAN_SDPA_CASES,
                             SIMULATOR_PARTS_SHAPES, SIMULATOR_S2S_SHAPES as ATTN_SHAPES,
                             SIMULATOR_SDPA_CORNERS as SDPA_CORNERS, STRIDED_S2S_SHAPE, mismatch, run_attention,
                             run_parts, s2s_case, sdpa_case, sdpa_cases)

DTYPES = ("float32", "float64")
SDPA_CASES = sdpa_cases(cases_attention.SIMULATOR_SDPA_SHAPES)


def _sid(shape):
    return "x".join(map(str, shape))


def case_ids():
    """'attention/NxTexTdxH/mask/dtype', 'attention_parts/...', 'sdpa/NxHhxTqxTkxdkxdv/mask[-causal]/dtype',
    'sdpa_blocked/.../R<rows>/dtype', and the inference, strided, determinism and path-choice runs."""
    ids = [f"attention/{_sid(s)}/{m}/{dt}" for s, m, dt in itertools.product(ATTN_SHAPES + ATTN_CORNERS, MASKS, DTYPES)
           if s[0] or m == "none"]
    ids += [f"attention/{_sid(s)}/nan-in-padding/{dt}" for s, dt in itertools.product(NAN_ATTN_SHAPES, DTYPES)]
    ids += [f"attention_parts/{_sid(s)}/{dt}" for s in SIMULATOR_PARTS_SHAPES
            for dt in DTYPES]
    ids += [f"sdpa/{_sid(s)}/{m}{'-causal' if c else ''}/{dt}"
            for (m, c, s), dt in itertools.product(SDPA_CASES + NAN_SDPA_CASES, DTYPES)]
    ids += [f"sdpa/{_sid(s)}/none/{dt}" for s in SDPA_CORNERS for dt in DTYPES]
    ids += [f"sdpa_blocked/{_sid(s)}/{m}{'-causal' if c else ''}/R{r}/{dt}" for (s, m, c, r), dt in
            itertools.product(BLOCKED_CASES, DTYPES)]
    for dt in DTYPES:
        ids += [f"attention/strided-inference/{dt}", f"sdpa/strided-inference/{dt}",
                f"sdpa_blocked/strided-inference/{dt}", f"determinism/{dt}"]
    ids.append("sdpa_blocked/path-choice/float32")
    return ids


# ---- inputs (s2s_case, sdpa_case: imported above) ----------------------------------------------------

def strided(a, to_device):
    """a's values as a non-contiguous view on the device (every other element of a twice larger array)."""
    big = np.zeros(tuple(2 * s for s in a.shape), a.dtype)
    big[tuple(slice(None, None, 2) for _ in a.shape)] = a
    return to_device(big)[tuple(slice(None, None, 2) for _ in a.shape)]


@contextlib.contextmanager
def weights_budget(nbytes):
    """The SDPA weights budget (pyrnn.backends.limits.SDPA_WEIGHTS_BYTES) set to nbytes."""
    from pyrnn.backends import limits as mod

    old = mod.SDPA_WEIGHTS_BYTES
    mod.SDPA_WEIGHTS_BYTES = nbytes
    try:
        yield
    finally:
        mod.SDPA_WEIGHTS_BYTES = old


def rows_budget(shape, dtype, rows):
    """The budget that gives query blocks of `rows` rows: rows * N * Hh * Tk weights."""
    N, Hh, _, Tk = shape[:4]
    return rows * N * Hh * Tk * np.dtype(dtype).itemsize


def payload(saved):
    """The backend's own saved payload (pyrnn.ops wraps it in a Saved)."""
    return getattr(saved, "payload", saved)


# ---- comparisons -----------------------------------------------------------------------------------

class Mismatch(AssertionError):
    pass


def close(name, got, want, dtype, to_numpy):
    """got (on the device) matches want (NumPy): cases.core's comparison."""
    msg = mismatch(to_numpy(got), want, dtype, name)
    if msg is not None:
        raise Mismatch(msg)


def zero(name, arr, where):
    if not np.all(arr[where] == 0):
        raise Mismatch(f"{name}: not exactly zero where it must be")


def unchanged(inputs, dev_inputs, to_numpy):
    for name, a in inputs.items():
        if a is not None and not np.array_equal(to_numpy(dev_inputs[name]), a, equal_nan=True):  # NaN padding
            raise Mismatch(f"input {name} was modified")


# ---- the cases -------------------------------------------------------------------------------------

def run_sdpa(api, q, k, v, dout, mask, causal, train=True):
    out, saved = api.sdpa_forward(q, k, v, mask, causal, train)
    if not train:
        return [out, saved]
    kind = payload(saved)[0]
    return [out, *api.sdpa_backward(dout, saved)], kind


def check_attention(api, case_id, to_device, to_numpy):
    from pyrnn import reference as ref

    op, what, *rest = case_id.split("/")
    dtype = rest[-1]
    if what == "strided-inference":  # non-contiguous hs, hq, dc, mask; then train=False
        hs, hq, dc, _, mask = s2s_case(STRIDED_S2S_SHAPE, dtype, "padding")
        dev = {n: strided(a, to_device) for n, a in dict(hs=hs, hq=hq, dc=dc, mask=mask).items()}
        got = run_attention(api, dev["hs"], dev["hq"], dev["dc"], dev["mask"])
        for name, g, w in zip(("c", "a", "dhs", "dhq"), got, run_attention(ref, hs, hq, dc, mask)):
            close(f"attention {name} (strided)", g, w, dtype, to_numpy)
        unchanged(dict(hs=hs, hq=hq, dc=dc, mask=mask), dev, to_numpy)
        c, a, saved = run_attention(api, dev["hs"], dev["hq"], dev["dc"], dev["mask"], train=False)
        if saved is not None:
            raise Mismatch("attention: train=False saved something")
        for name, g, w in zip(("c", "a"), (c, a), got):
            if not np.array_equal(to_numpy(g), to_numpy(w)):
                raise Mismatch(f"attention {name}: train=False differs from train=True")
        return
    shape = tuple(int(x) for x in what.split("x"))
    if op == "attention_parts":  # attention_weights and weighted_sum, each on its own
        hs, hq, dc, da, mask = s2s_case(shape, dtype, "padding" if shape[0] else "none", seed=1)
        host = dict(hs=hs, hq=hq, dc=dc, da=da, mask=mask)
        dev = {n: None if a is None else to_device(a) for n, a in host.items()}

        def parts(m, x):
            return run_parts(m, x["hs"], x["hq"], x["dc"], x["da"], x["mask"])
        for name, g, w in zip(("a", "dhs", "dhq", "c", "dhs(sum)", "da"), parts(api, dev), parts(ref, host)):
            close(f"attention_parts {name}", g, w, dtype, to_numpy)
        unchanged(host, dev, to_numpy)
        return
    hs, hq, dc, _, mask = s2s_case(shape, dtype, rest[0])
    host = dict(hs=hs, hq=hq, dc=dc, mask=mask)
    dev = {n: None if a is None else to_device(a) for n, a in host.items()}
    got = [to_numpy(g) for g in run_attention(api, dev["hs"], dev["hq"], dev["dc"], dev["mask"])]
    for name, g, w in zip(("c", "a", "dhs", "dhq"), got, run_attention(ref, hs, hq, dc, mask)):
        close(f"attention {name}", g, w, dtype, np.asarray)
    unchanged(host, dev, to_numpy)
    if mask is not None:  # padding gets exactly zero weight; an all-masked sequence exactly zero everything
        zero("attention a (masked keys)", got[1], ~np.broadcast_to(mask[:, None, :], got[1].shape))
        dead = ~mask.any(axis=1)
        for name, arr in zip(("c", "a", "dhs", "dhq"), got):
            zero(f"attention {name} (all-masked sequence)", arr, dead)


def check_sdpa_zeros(got, mask, causal, shape):
    """An all-masked sequence: exactly zero out and gradients; a masked key: no dk, dv; causal: query 0 of
    sequence 0, whose only key is masked, exactly zero."""
    if mask is None:
        return
    dead = ~mask.any(axis=1)
    for name, arr in zip(("out", "dq", "dk", "dv"), got):
        zero(f"sdpa {name} (all-masked sequence)", arr, dead)
    for name, arr in zip(("dk", "dv"), got[2:]):
        zero(f"sdpa {name} (masked key)", arr.transpose(0, 2, 1, 3), ~mask)
    if causal and shape[2] > 2:
        zero("sdpa out (causal query 0)", got[0][0, :, 0], slice(None))
        zero("sdpa dq (causal query 0)", got[1][0, :, 0], slice(None))


def check_sdpa(api, case_id, to_device, to_numpy):
    from pyrnn import reference as ref

    op, what, *rest = case_id.split("/")
    dtype = rest[-1]
    blocked = op == "sdpa_blocked"
    if what == "path-choice":
        return check_path_choice(api, to_device)
    if what == "strided-inference":  # non-contiguous q (how MultiHeadAttention splits heads), k, dout; train=False
        shape = (2, 3, 13, 7, 8, 3)
        q, k, v, dout, mask = sdpa_case(shape, dtype, "padding")
        qt = to_device(np.ascontiguousarray(q.transpose(0, 2, 1, 3))).transpose(0, 2, 1, 3)
        ks, ds = strided(k, to_device), strided(dout, to_device)
        vd, md = to_device(v), to_device(mask)
        with weights_budget(rows_budget(shape, dtype, 5) if blocked else 256 << 20):
            got, kind = run_sdpa(api, qt, ks, vd, ds, md, False)
            out_i, saved_i = run_sdpa(api, qt, ks, vd, ds, md, False, train=False)
        if kind != ("blocked" if blocked else "full"):
            raise Mismatch(f"sdpa ran the {kind} path")
        for name, g, w in zip(("out", "dq", "dk", "dv"), got, run_sdpa(ref, q, k, v, dout, mask, False)[0]):
            close(f"sdpa {name} (strided)", g, w, dtype, to_numpy)
        unchanged(dict(q=q, k=k, dout=dout), dict(q=qt, k=ks, dout=ds), to_numpy)
        if saved_i is not None:
            raise Mismatch("sdpa: train=False saved something")
        if not np.array_equal(to_numpy(out_i), to_numpy(got[0])):
            raise Mismatch("sdpa out: train=False differs from train=True")
        return
    shape = tuple(int(x) for x in what.split("x"))
    mask_kind, causal = rest[0].removesuffix("-causal"), rest[0].endswith("-causal")
    q, k, v, dout, mask = sdpa_case(shape, dtype, mask_kind)
    host = dict(q=q, k=k, v=v, dout=dout, mask=mask)
    dev = {n: None if a is None else to_device(a) for n, a in host.items()}
    args = [dev[n] for n in ("q", "k", "v", "dout", "mask")]
    full, kind = run_sdpa(api, *args, causal)
    if kind != "full":
        raise Mismatch(f"sdpa ran the {kind} path under the default budget")
    want = run_sdpa(ref, q, k, v, dout, mask, causal)[0]
    if blocked:  # against the reference and the materialised path, both to the same tolerance
        rows = int(rest[1][1:])
        with weights_budget(rows_budget(shape, dtype, rows)):
            got, kind = run_sdpa(api, *args, causal)
        if kind != "blocked":
            raise Mismatch(f"sdpa ran the {kind} path with a {rows}-row budget")
        for name, g, f in zip(("out", "dq", "dk", "dv"), got, full):
            close(f"sdpa {name} (blocked vs materialised)", g, to_numpy(f), dtype, to_numpy)
    else:
        got = full
    got = [to_numpy(g) for g in got]
    for name, g, w in zip(("out", "dq", "dk", "dv"), got, want):
        close(f"sdpa {name}", g, w, dtype, np.asarray)
    unchanged(host, dev, to_numpy)
    check_sdpa_zeros(got, mask, causal, shape)


def check_path_choice(api, to_device):
    """Materialised while the weights fit the budget exactly, blocked one byte below it."""
    shape = (1, 2, 6, 5, 3, 2)
    q, k, v = (to_device(a) for a in sdpa_case(shape, "float32", "none")[:3])
    fit = 2 * 6 * 5 * 4
    for budget, expected in ((fit, "full"), (fit - 1, "blocked"), (1, "blocked")):
        with weights_budget(budget):
            kind = payload(api.sdpa_forward(q, k, v, None, False, True)[1])[0]
        if kind != expected:
            raise Mismatch(f"sdpa with a {budget}-byte budget ran {kind}, not {expected}")


def check_determinism(api, case_id, to_device, to_numpy):
    """Every output bitwise equal across two runs: attention, the materialised and the blocked SDPA."""
    dtype = case_id.split("/")[-1]
    hs, hq, dc, _, mask = (None if a is None else to_device(a) for a in s2s_case((2, 40, 3, 17), dtype, "padding"))
    shape = (2, 1, 9, 9, 5, 7)
    q, k, v, dout, smask = (to_device(a) for a in sdpa_case(shape, dtype, "padding"))
    runs = []
    for _ in range(2):
        outs = run_attention(api, hs, hq, dc, mask)
        outs += run_sdpa(api, q, k, v, dout, smask, True)[0]
        with weights_budget(rows_budget(shape, dtype, 2)):
            outs += run_sdpa(api, q, k, v, dout, smask, True)[0]
        runs.append([to_numpy(o) for o in outs])
    for n, (a, b) in enumerate(zip(*runs)):
        if not np.array_equal(a, b):
            raise Mismatch(f"output {n} differs between two identical runs")


def check(case_id, api, to_device, to_numpy):
    """Run one case on `api` (the backend module, or pyrnn.ops with the backend forced) with inputs moved
    by `to_device`; None if it passes, else what failed."""
    op = case_id.split("/")[0]
    try:
        if op.startswith("attention"):
            check_attention(api, case_id, to_device, to_numpy)
        elif op.startswith("sdpa"):
            check_sdpa(api, case_id, to_device, to_numpy)
        else:
            check_determinism(api, case_id, to_device, to_numpy)
    except Mismatch as e:
        return str(e)
    return None


if __name__ == "__main__":
    from numba_cudasim import run_cases

    run_cases(case_ids, check)
