"""Decoding for the encoder-decoder and language models: greedy, sampling (temperature, top-k,
top-p) and beam search, batched (N sequences at once), written once against a small step protocol.

A model that decodes implements (see `StepModel`):

* ``decode_vocab_size``: V, the number of output ids;
* ``decode_step(state, ids)``: feed ids (N,) (one per row) -> (scores (N, V), new state); scores are
  unnormalised logits (the search takes the log-softmax, in float64 for beam search);
* ``decode_select(state, rows)``: the state of the given rows, in that order (rows may repeat):
  beams are N * K rows, grown and reordered with it. `select_rows` does it for a tuple of arrays
  (or None) with the batch on axis 0, which is what every model here uses as its state.

The first state comes from the model's own ``decode_start``: a seq2seq model's encodes the source
(the first ids fed are the start symbols), a language model's reads all but the last id of the prompt
(the first ids fed are the prompt's last ones). ``model.decode(...)`` checks the options, starts, and
calls `run`.

Semantics, the same for every method:

* Up to ``max_len`` new ids per row (the start symbol or prompt not included).
* ``end_id``: a row that produces it stops there (the end id is part of the output and counts in its
  length); the rest of the row is ``pad_id`` (default: ``end_id``, else 0). Without ``end_id`` every
  row has length ``max_len``.
* ``skip_ids``: ids never produced; the model's distribution is renormalised without them.
* ``scores``: the sum of log p(id | previous ids) of each row's ids, under the model's distribution
  (after ``skip_ids``, before any temperature or top-k/top-p filtering), accumulated in float64.
* Beam search ranks finished hypotheses by ``scores / lp(length)``, GNMT's length penalty
  lp(n) = ((5 + n) / 6) ** length_penalty (Wu et al. 2016); 0 (the default) ranks by the summed
  log-probability itself.

Everything in the returned `Decoded` is a NumPy array on the host (also for CuPy models: the ids
are small, and the search moves one (N, 2K) block per step to the host).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .._arrays import to_numpy

METHODS = ("greedy", "sample", "beam")


class StepModel(Protocol):
    decode_vocab_size: int

    def decode_step(self, state: Any, ids) -> tuple[Any, Any]: ...

    def decode_select(self, state: Any, rows) -> Any: ...


def select_rows(state, rows):
    """Rows ``rows`` (an integer array of the state's module) of each array in the tuple ``state``;
    None entries stay None (an initial state of zeros that the op creates itself)."""
    return tuple(None if a is None else a[rows] for a in state)


@dataclass(frozen=True)
class Decoded:
    """What a decode returns (NumPy arrays).

    ids (N, max_len) int64: the new ids, ``pad_id`` after an end id; lengths (N,): ids up to and
    including the end id (max_len when a row never ended); scores (N,) float64: summed log-probabilities.
    Beam search only (else None): ``penalised`` (N,) the ranking score scores / lp(lengths), and the K
    best hypotheses of each row, best first: ``beam_ids`` (N, K, max_len), ``beam_lengths``,
    ``beam_scores``, ``beam_penalised`` (N, K) (-inf scores where a row had fewer than K hypotheses).
    """
    ids: np.ndarray
    lengths: np.ndarray
    scores: np.ndarray
    penalised: np.ndarray | None = None
    beam_ids: np.ndarray | None = None
    beam_lengths: np.ndarray | None = None
    beam_scores: np.ndarray | None = None
    beam_penalised: np.ndarray | None = None


# ---- argument checks ----------------------------------------------------------------------------

def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _check_int(name, v, low, high=None, what=None):
    if not _is_int(v) or v < low or (high is not None and v >= high):
        rng = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name}: expected {what or 'an integer'} {rng}, got {v!r}")
    return int(v)


def _check_real(name, v, ok, expect):
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected {expect}, got {v!r}") from None
    if isinstance(v, (bool, np.bool_)) or not math.isfinite(f) or not ok(f):
        raise ValueError(f"{name}: expected {expect}, got {v!r}")
    return f


# options that belong to one method: given with another, they would be silently ignored
_ONLY = {"width": "beam", "length_penalty": "beam", "temperature": "sample", "top_k": "sample",
         "top_p": "sample", "seed": "sample", "rng": "sample"}


def check_options(V, method, max_len, end_id=None, pad_id=None, skip_ids=None, width=None,
                  length_penalty=None, temperature=None, top_k=None, top_p=None, seed=None, rng=None):
    """Validate the decoding options for a vocabulary of V ids -> a dict of clean values.
    Every bad value is a ValueError (TypeError for a wrong rng) naming the argument."""
    if method not in METHODS:
        raise ValueError(f"method: expected one of {', '.join(map(repr, METHODS))}, got {method!r}")
    given = dict(width=width, length_penalty=length_penalty, temperature=temperature, top_k=top_k,
                 top_p=top_p, seed=seed, rng=rng)
    for name, v in given.items():
        if v is not None and _ONLY[name] != method:
            raise ValueError(f"{name}: only for method={_ONLY[name]!r}, not {method!r}")
    out = dict(method=method, max_len=_check_int("max_len", max_len, 1))
    out["end_id"] = None if end_id is None else _check_int("end_id", end_id, 0, V, "an id")
    if pad_id is not None and not _is_int(pad_id):
        raise ValueError(f"pad_id: expected an integer, got {pad_id!r}")
    out["pad_id"] = int(pad_id) if pad_id is not None else (out["end_id"] if out["end_id"] is not None else 0)
    skip = []
    for s in ([] if skip_ids is None else list(np.asarray(skip_ids).reshape(-1).tolist())):
        skip.append(_check_int("skip_ids", s, 0, V, "ids"))
    if len(set(skip)) >= V:
        raise ValueError(f"skip_ids: every one of the {V} ids is skipped, nothing is left to produce")
    out["skip_ids"] = sorted(set(skip))
    if method == "beam":
        out["width"] = _check_int("width", 4 if width is None else width, 1)
        out["length_penalty"] = _check_real("length_penalty", 0.0 if length_penalty is None else length_penalty,
                                            lambda f: True, "a finite number")
    if method == "sample":
        out["temperature"] = _check_real("temperature", 1.0 if temperature is None else temperature,
                                         lambda f: f > 0, "a finite number > 0")
        out["top_k"] = None if top_k is None else _check_int("top_k", top_k, 1)
        out["top_p"] = None if top_p is None else _check_real("top_p", top_p, lambda f: 0 < f <= 1,
                                                              "a number in (0, 1]")
        if seed is not None and rng is not None:
            raise ValueError("seed, rng: give one of them, not both")
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
        if seed is not None and not _is_int(seed):
            raise ValueError(f"seed: expected an integer, got {seed!r}")
        out["rng"] = rng if rng is not None else np.random.default_rng(seed)
    return out


def check_start_ids(name, ids, N, V):
    """Scalar or (N,) start ids in [0, V) -> (N,) int64 NumPy array."""
    a = np.asarray(to_numpy(ids))
    if a.dtype.kind not in "iu" or a.dtype == np.bool_:
        raise ValueError(f"{name}: expected integer ids, got dtype {a.dtype}")
    if a.ndim == 0:
        a = np.full(N, int(a), np.int64)
    a = a.reshape(-1).astype(np.int64)
    if a.shape != (N,):
        raise ValueError(f"{name}: expected one id or {N} (one per row), got shape {np.shape(ids)}")
    if a.size and (a.min() < 0 or a.max() >= V):
        raise ValueError(f"{name}: ids must be in [0, {V}), got values in [{a.min()}, {a.max()}]")
    return a


# ---- the searches -------------------------------------------------------------------------------

def _mask_skip(xp, scores, skip_ids):
    if skip_ids:
        scores = scores.copy()
        scores[:, xp.asarray(skip_ids)] = -np.inf
    return scores


def _log_softmax(xp, x):
    m = x.max(axis=1, keepdims=True)
    z = x - m
    return z - xp.log(xp.exp(z).sum(axis=1, keepdims=True))


def run(model: StepModel, state, ids, opts, xp=np) -> Decoded:
    """Decode from ``state`` fed first with ``ids`` (NumPy (N,) int), with options from `check_options`;
    ``xp``: the model's array module (numpy or cupy)."""
    if opts["method"] == "beam":
        return beam_search(model, state, ids, opts, xp)
    return _greedy_or_sample(model, state, ids, opts, xp)


def _greedy_or_sample(model, state, ids, opts, xp):
    """Greedy (argmax, first id on ties, as ``argmax``) or sampling, one id per row and step."""
    N, L, end, skip = len(ids), opts["max_len"], opts["end_id"], opts["skip_ids"]
    sample = opts["method"] == "sample"
    out = np.full((N, L), opts["pad_id"], np.int64)
    lengths = np.full(N, L, np.int64)
    scores = np.zeros(N)
    live = np.ones(N, bool)
    x = xp.asarray(ids)
    for t in range(L):
        logits, state = model.decode_step(state, x)
        logits = _mask_skip(xp, logits, skip)
        if sample:
            host = to_numpy(logits).astype(np.float64)
            nxt_h = sample_ids(host, opts["rng"], opts["temperature"], opts["top_k"], opts["top_p"])
            x = xp.asarray(nxt_h)
            logp = host[np.arange(N), nxt_h] - _logsumexp_np(host)
        else:
            x = logits.argmax(axis=1)
            # log p of the chosen id (the max) = -log sum exp(logits - max), in the logits' dtype
            mx = logits.max(axis=1, keepdims=True)
            logp = -to_numpy(xp.log(xp.exp(logits - mx).sum(axis=1))).astype(np.float64)
            nxt_h = to_numpy(x)
        out[live, t] = nxt_h[live]
        scores[live] += logp[live]
        if end is not None:
            ended = live & (nxt_h == end)
            lengths[ended] = t + 1
            live &= ~ended
            if not live.any():
                break
    return Decoded(out, lengths, scores)


def _logsumexp_np(x):
    m = x.max(axis=1)
    return m + np.log(np.exp(x - m[:, None]).sum(axis=1))


def sample_ids(logits, rng, temperature=1.0, top_k=None, top_p=None):
    """One draw per row from softmax(logits / temperature) restricted to the top_k largest logits
    (ties: the lower id first) and then to the smallest set of most likely ids whose probability
    reaches top_p (always at least one id). logits (N, V) float64 on the host, -inf for excluded ids.
    Deterministic for a given rng state: one uniform draw per row."""
    N, V = logits.shape
    z = logits / temperature
    keep = np.isfinite(z)
    if top_k is not None and top_k < V:
        best = np.zeros_like(keep)
        np.put_along_axis(best, _best_m(np, z, top_k), True, axis=1)
        keep &= best
    z = np.where(keep, z, -np.inf)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-p, axis=1, kind="stable")
        ps = np.take_along_axis(p, order, axis=1)
        before = np.concatenate((np.zeros((N, 1)), np.cumsum(ps, axis=1)[:, :-1]), axis=1)  # of the likelier ids
        drop = np.zeros_like(keep)
        np.put_along_axis(drop, order, before >= top_p, axis=1)
        p = np.where(drop, 0.0, p)
        p /= p.sum(axis=1, keepdims=True)
    cdf = np.cumsum(p, axis=1)
    u = rng.random(N) * cdf[:, -1]
    # the first id whose cdf exceeds u: an id of probability 0 is never chosen (u >= 0 and its cdf
    # equals its predecessor's); u rounding up to the total picks the last id with p > 0
    idx = (cdf <= u[:, None]).sum(axis=1)
    last = V - 1 - np.argmax(p[:, ::-1] > 0, axis=1)
    return np.minimum(idx, last).astype(np.int64)


def _best_m(xp, cand, m):
    """Indices (N, m), ascending, of the m largest entries of each row of cand; of equal entries at
    the cut, the lower indices (argpartition alone would pick any of them)."""
    N, C = cand.shape
    if m >= C:
        return xp.broadcast_to(xp.arange(C), (N, C))
    thr = -xp.partition(-cand, m - 1, axis=1)[:, m - 1:m]  # the m-th largest value of each row
    above = cand > thr
    at = cand == thr
    room = m - above.sum(axis=1, keepdims=True)
    chosen = above | (at & (xp.cumsum(at, axis=1) <= room))
    return xp.nonzero(chosen)[1].reshape(N, m)


def length_penalty(n, alpha):
    """GNMT's lp(n) = ((5 + n) / 6) ** alpha (1 for alpha = 0)."""
    return ((5.0 + np.asarray(n, np.float64)) / 6.0) ** alpha


def beam_search(model, state, ids, opts, xp=np):
    """Beam search, K = width beams per row (N * K rows through the model).

    Each step expands every live beam by every id; the candidates of a row are ranked by summed
    log-probability (ties: the better beam first, then the lower id, as ``argmax``). Candidates ending
    in ``end_id`` that rank within the best K join the row's finished hypotheses (as in Hugging Face's
    beam search); the best K others are the next live beams.
    At ``max_len`` the live beams finish too. A row keeps its K best finished hypotheses by
    penalised score, and stops once it has K of them and no live beam can still beat the worst
    (log-probabilities only fall, so a beam of score s can reach at most s / max lp(n) over the
    lengths left): stopping then changes nothing. With K >= V ** max_len nothing is ever pruned,
    and the result is that of exhaustive search.
    """
    N, L, K, end, skip = len(ids), opts["max_len"], opts["width"], opts["end_id"], opts["skip_ids"]
    alpha, pad = opts["length_penalty"], opts["pad_id"]
    state = model.decode_select(state, xp.asarray(np.repeat(np.arange(N), K)))
    x = xp.asarray(np.repeat(ids, K))
    live = np.full((N, K), -np.inf)
    live[:, 0] = 0.0  # one beam to start with: the others would repeat it
    seqs = np.full((N, K, L), pad, np.int64)
    pool_pen = np.full((N, K), -np.inf)
    pool_raw = np.full((N, K), -np.inf)
    pool_len = np.zeros((N, K), np.int64)
    pool_ids = np.full((N, K, L), pad, np.int64)
    rows = np.arange(N)[:, None]
    for t in range(1, L + 1):
        logits, state = model.decode_step(state, x)
        V = logits.shape[1]
        logp = _log_softmax(xp, _mask_skip(xp, logits.astype(np.float64), skip))
        cand = (xp.asarray(live.reshape(-1, 1)) + logp).reshape(N, K * V)
        m = min(2 * K, K * V)  # at most K candidates end, so 2K leave K to live on
        top = _best_m(xp, cand, m)
        vals = to_numpy(xp.take_along_axis(cand, top, axis=1))
        top = to_numpy(top)
        order = np.lexsort((top, -vals), axis=1)  # best first; ties: lower candidate index
        top, vals = np.take_along_axis(top, order, 1), np.take_along_axis(vals, order, 1)
        beam, tok = top // V, top % V
        is_end = (tok == end) if end is not None else np.zeros_like(tok, bool)
        finite = np.isfinite(vals)
        # the next live beams: the best K candidates that do not end (slots beyond them stay empty)
        sel = np.argsort(is_end, axis=1, kind="stable")[:, :K]
        s_vals = np.take_along_axis(vals, sel, 1)
        s_end = np.take_along_axis(is_end, sel, 1)
        s_vals[s_end] = -np.inf
        parents, s_tok = np.take_along_axis(beam, sel, 1), np.take_along_axis(tok, sel, 1)
        grown = seqs[rows, parents]
        grown[:, :, t - 1] = s_tok
        # finished this step: ends ranked within the best K, and at max_len every live beam
        fin = [(is_end[:, :K] & finite[:, :K], vals[:, :K], seqs[rows, beam[:, :K]], tok[:, :K])]
        if t == L:
            fin.append((np.isfinite(s_vals), s_vals, seqs[rows, parents], s_tok))
        for ok, raw, prefix, last in fin:
            if not ok.any():
                continue
            hyp = prefix.copy()
            hyp[:, :, t - 1] = last
            pen = np.where(ok, raw / length_penalty(t, alpha), -np.inf)
            all_pen = np.concatenate((pool_pen, pen), 1)
            keep = np.argsort(-all_pen, axis=1, kind="stable")[:, :K]  # the pool first on ties
            pool_pen = np.take_along_axis(all_pen, keep, 1)
            pool_raw = np.take_along_axis(np.concatenate((pool_raw, np.where(ok, raw, -np.inf)), 1), keep, 1)
            pool_len = np.take_along_axis(np.concatenate((pool_len, np.full_like(pool_len, t)), 1), keep, 1)
            pool_ids = np.take_along_axis(np.concatenate((pool_ids, hyp), 1), keep[:, :, None], 1)
        if t == L:
            break
        seqs, live = grown, s_vals
        if end is not None:
            best = live.max(axis=1)
            lp_max = max(length_penalty(t + 1, alpha), length_penalty(L, alpha))
            full = np.isfinite(pool_pen[:, -1])
            done = ~np.isfinite(best) | (full & (best / lp_max <= pool_pen[:, -1]))
            live[done] = -np.inf
            if done.all():
                break
        flat = (np.arange(N)[:, None] * K + parents).reshape(-1)
        state = model.decode_select(state, xp.asarray(flat))
        x = xp.asarray(s_tok.reshape(-1))
    pool_ids[~np.isfinite(pool_pen)] = pad
    return Decoded(pool_ids[:, 0].copy(), pool_len[:, 0].copy(), pool_raw[:, 0].copy(), pool_pen[:, 0].copy(),
                   pool_ids, pool_len, pool_raw, pool_pen)
