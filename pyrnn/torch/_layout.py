"""torch.nn.LSTM/GRU/RNN parameters <-> pyrnn's recurrent op arguments, and back for gradients.

torch keeps, per layer and direction, weight_ih (G*H, K) and weight_hh (G*H, H) with the gates
stacked along rows, plus bias_ih and bias_hh (G*H,). pyrnn takes Wx (K, G*H), Wh (H, G*H) with
the gates side by side in columns (pyrnn/backends/contract.py):

  LSTM  torch [i, f, g, o]  ->  pyrnn [f, g, i, o];  b = b_ih + b_hh (4H,)
  GRU   torch [r, z, n]     ->  pyrnn [z, r, n], reset_after=True;  b = [b_ih; b_hh] (2, 3H).
        pyrnn's update gate is torch's 1 - z (pyrnn: h' = (1 - z) h + z n, torch:
        h' = (1 - z) n + z h), and 1 - sigmoid(a) = sigmoid(-a), so z's weights and biases
        change sign (and so do their gradients).
  RNN   tanh, one gate: Wx = weight_ih.T;  b = b_ih + b_hh (H,)

The gradient of the summed bias goes to both b_ih and b_hh (d b_ih = d b_hh = d b).

Cost: one transposed copy of each weight matrix per forward, and of each weight gradient per
backward, gate block by gate block (OpenBLAS's omatcopy on the CPU): per LSTM layer and direction,
forward and backward together, D = H, about 0.1 ms at H = 128, 0.5 ms at 256 and 2.8 ms at 512 with
warm caches (README: PyTorch bridge; 9% of a training step at (1, 200, 256, 256) under cProfile).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as _np

from ._convert import array_module as _xp


@dataclass(frozen=True)
class Layout:
    kind: str         # "lstm", "gru", "rnn": the pyrnn op
    gates: int        # G
    perm: tuple       # pyrnn gate j is torch gate perm[j]
    sign: tuple       # and is multiplied by sign[j]
    bias: str         # "sum": b = b_ih + b_hh;  "stack": b = [b_ih; b_hh] (2, G*H)


LAYOUTS = {
    "lstm": Layout("lstm", 4, (1, 2, 0, 3), (1, 1, 1, 1), "sum"),
    "gru": Layout("gru", 3, (1, 0, 2), (-1, 1, 1), "stack"),
    "rnn": Layout("rnn", 1, (0,), (1,), "sum"),
}



def _put(dst, src, sign, xp):
    """dst[...] = sign * src, without a temporary."""
    if sign > 0:
        dst[...] = src
    else:
        xp.negative(src, out=dst)


def weight_to_pyrnn(W, lay):
    """W (G*H, K), torch's gate rows -> (K, G*H), pyrnn's gate columns (a new array)."""
    xp = _xp(W)
    GH, K = W.shape
    H = GH // lay.gates
    out = xp.empty((K, GH), W.dtype)
    # pyrnn's gate j (columns j*H...) is sign * torch's gate perm[j] (rows perm[j]*H...), transposed
    blocks = [(lay.perm[j] * H, 0, 0, j * H, lay.sign[j]) for j in range(lay.gates)]
    if not _omatcopy_blocks(out, W, blocks, H, K):
        for r, c, r2, c2, sign in blocks:
            _put(out[:, c2:c2 + H], W[r:r + H].T, sign, xp)
    return out


def weight_grad_to_torch(dW, lay):
    """dW (K, G*H) in pyrnn's layout -> (G*H, K) in torch's (a new array)."""
    xp = _xp(dW)
    K, GH = dW.shape
    H = GH // lay.gates
    out = xp.empty((GH, K), dW.dtype)
    blocks = [(0, j * H, lay.perm[j] * H, 0, lay.sign[j]) for j in range(lay.gates)]
    if not _omatcopy_blocks(out, dW, blocks, K, H):
        for r, c, r2, c2, sign in blocks:
            _put(out[r2:r2 + H], dW[:, c:c + H].T, sign, xp)
    return out


# ---- OpenBLAS omatcopy (scipy-openblas32, which pyrnn already requires), through ctypes ----------
# 2.5-4x NumPy's strided transposed copy here (one 256 x 1024 float32 gate matrix: 0.075 vs 0.30 ms)

def _load_omatcopy():
    """{dtype: cblas_?omatcopy} from scipy-openblas32's library; {} where it cannot be loaded."""
    import ctypes
    import os
    try:
        import scipy_openblas32 as sob
        lib = ctypes.CDLL(os.path.join(sob.get_lib_dir(), sob.get_library(fullname=True)))
    except (ImportError, OSError, IndexError):
        return {}
    funcs = {}
    for dtype, letter, real in ((_np.float32, "s", ctypes.c_float), (_np.float64, "d", ctypes.c_double)):
        for name in (f"scipy_cblas_{letter}omatcopy", f"cblas_{letter}omatcopy"):
            f = getattr(lib, name, None)
            if f is not None:
                # (order, trans, rows, cols, alpha, a, lda, b, ldb): b (cols x rows) = alpha * a^T
                f.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, real,
                              ctypes.c_size_t, ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
                f.restype = None
                funcs[_np.dtype(dtype)] = f
                break
    return funcs


_OMATCOPY = None
_ROW_MAJOR, _TRANS = 101, 112  # CblasRowMajor, CblasTrans


def _omatcopy_blocks(dst, src, blocks, rows, cols):
    """For each (r, c, r2, c2, sign): dst[r2:r2+cols, c2:c2+rows] = sign * src[r:r+rows, c:c+cols].T,
    through OpenBLAS; False (nothing done) where it cannot: CuPy arrays, a dtype or a layout it
    does not take (rows must be unit-stride), or the library missing."""
    global _OMATCOPY
    if not isinstance(src, _np.ndarray):
        return False
    if _OMATCOPY is None:
        _OMATCOPY = _load_omatcopy()
    f, item = _OMATCOPY.get(src.dtype), src.itemsize
    if (f is None or dst.dtype != src.dtype or not dst.flags.c_contiguous or src.strides[1] != item
            or src.strides[0] % item or src.strides[0] < 0):
        return False
    lda, ldb = max(src.strides[0] // item, 1), dst.shape[1]
    a0, b0 = src.__array_interface__["data"][0], dst.__array_interface__["data"][0]
    for r, c, r2, c2, sign in blocks:
        f(_ROW_MAJOR, _TRANS, rows, cols, float(sign), a0 + (r * lda + c) * item, lda,
          b0 + (r2 * ldb + c2) * item, ldb)
    return True


def bias_to_pyrnn(b_ih, b_hh, lay):
    """(b_ih, b_hh), each (G*H,) or both None -> b: (G*H,) for "sum", (2, G*H) for "stack"."""
    if b_ih is None:
        return None
    xp = _xp(b_ih)
    G, H = lay.gates, b_ih.shape[0] // lay.gates
    ih, hh = b_ih.reshape(G, H), b_hh.reshape(G, H)
    if lay.bias == "sum":
        out = xp.empty((G, H), b_ih.dtype)
        for j in range(G):
            xp.add(ih[lay.perm[j]], hh[lay.perm[j]], out=out[j])
            if lay.sign[j] < 0:
                xp.negative(out[j], out=out[j])
        return out.reshape(G * H)
    out = xp.empty((2, G, H), b_ih.dtype)
    for j in range(G):
        _put(out[0, j], ih[lay.perm[j]], lay.sign[j], xp)
        _put(out[1, j], hh[lay.perm[j]], lay.sign[j], xp)
    return out.reshape(2, G * H)


def bias_grad_to_torch(db, lay):
    """pyrnn's db -> (d b_ih, d b_hh), each (G*H,), two separate arrays (torch may accumulate
    into either in place)."""
    if db is None:
        return None, None
    xp = _xp(db)
    GH = db.shape[-1]
    G, H = lay.gates, GH // lay.gates
    rows = (db, db) if lay.bias == "sum" else (db[0], db[1])
    outs = []
    for row in rows:
        rg = row.reshape(G, H)
        out = xp.empty((G, H), db.dtype)
        for j in range(G):
            _put(out[lay.perm[j]], rg[j], lay.sign[j], xp)
        outs.append(out.reshape(GH))
    return tuple(outs)
