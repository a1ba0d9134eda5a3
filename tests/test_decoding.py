"""Decoding (pyrnn.models.decoding): greedy, sampling and beam search for every model that decodes,
checked against an oracle that shares no code with the step-by-step search: the models' full-sequence
(teacher-forced) forward, which scores every candidate sequence at once.

Exactness tests run in float64 on small random models whose weights are scaled up so that their
distributions are far from uniform (the models' own init makes them nearly uniform)."""
import itertools

import numpy as np
import pytest

from pyrnn.models import AttentionSeq2seq, BetterRnnlm, PeekySeq2seq, Rnnlm, Seq2seq
from pyrnn.models.decoding import Decoded, check_options, length_penalty, run, sample_ids, select_rows

SEQ2SEQ = [Seq2seq, PeekySeq2seq, AttentionSeq2seq]
LMS = [Rnnlm, BetterRnnlm]
ALL = SEQ2SEQ + LMS
IDS = [c.__name__ for c in ALL]


def build(cls, V, dtype=np.float64, seed=0, scale=1.5, xp=np):
    """A small model, every parameter redrawn: embeddings N(0, scale^2), weight matrices
    N(0, scale^2 / fan-in), biases N(0, 0.1^2) (a tied weight is drawn once, as an embedding)."""
    if cls in LMS:
        m = cls(V, 6, 6, dtype=dtype, seed=seed, xp=xp) if cls is Rnnlm else \
            cls(V, 6, 6, dropout_ratio=0.5, dtype=dtype, seed=seed, xp=xp)
    else:
        m = cls(V, 5, 6, dtype=dtype, seed=seed, xp=xp)
    rng = np.random.default_rng(seed + 100)
    for name, p in m.named_params():
        std = 0.1 if p.ndim == 1 else scale if name.endswith("embed.W") else scale / np.sqrt(p.shape[0])
        p[...] = xp.asarray(rng.standard_normal(p.shape) * std)
    return m


def inputs(cls, N, V, seed=1):
    """Source ids (N, 4) for a seq2seq model; prompts (N, 2) for a language model."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, V, (N, 2 if cls in LMS else 4))


def decode(m, inp, max_len, method="greedy", start=0, **kw):
    if isinstance(m, (Rnnlm, BetterRnnlm)):
        return m.decode(inp, max_len, method, **kw)
    return m.decode(inp, start, max_len, method, **kw)


def teacher_forced_logp(m, inp, ys, start=0):
    """log p(ys[:, t] | ys[:, :t], input) (M, L) for M candidate rows, from the full-sequence forward
    (one op call over all L steps), in float64."""
    M, L = ys.shape
    if isinstance(m, (Rnnlm, BetterRnnlm)):
        P = inp.shape[1]
        m.reset_state()
        scores = m.predict(np.concatenate([inp, ys[:, :-1]], axis=1))[:, P - 1:]
        m.reset_state()
    else:
        tin = np.concatenate([np.full((M, 1), start), ys[:, :-1]], axis=1)
        hs = m.encoder.forward(inp)
        if isinstance(m, AttentionSeq2seq):
            scores = m.decoder.forward(tin, hs, m.encoder.final_state(hs), m._mask(inp))
        else:
            scores = m.decoder.forward(tin, m.encoder.final_state(hs))
    s = np.asarray(scores, np.float64)
    logp = s - s.max(axis=2, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=2, keepdims=True))
    return np.take_along_axis(logp, ys[:, :, None], axis=2)[:, :, 0]


def exhaustive(m, inp_row, V, L, end_id=None, alpha=0.0):
    """Every distinct hypothesis of one input row: [(penalised, score, ids tuple)], best first.
    A sequence stops at its first end id (included), so its tail does not make new hypotheses."""
    ys = np.array(list(itertools.product(range(V), repeat=L)))
    logp = teacher_forced_logp(m, np.repeat(inp_row[None], len(ys), axis=0), ys)
    hyps = {}
    for y, lp in zip(ys, logp):
        n = L
        if end_id is not None and (y == end_id).any():
            n = int(np.argmax(y == end_id)) + 1
        s = float(lp[:n].sum())
        hyps[tuple(y[:n])] = (s / float(length_penalty(n, alpha)), s)
    return sorted(((pen, s, ids) for ids, (pen, s) in hyps.items()), key=lambda h: -h[0])


# ---- beam search = exhaustive search when nothing is pruned -------------------------------------

@pytest.mark.parametrize("end_id, alpha", [(None, 0.0), (0, 0.0), (0, 1.0), (2, -0.5)],
                         ids=["no-end", "end", "end-alpha1", "end-alpha-0.5"])
@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_wide_beam_equals_exhaustive_search(cls, end_id, alpha):
    V, L = 3, 3
    K = V ** L  # every prefix survives
    m = build(cls, V)
    inp = inputs(cls, 2, V)
    out = decode(m, inp, L, "beam", width=K, end_id=end_id, length_penalty=alpha)
    assert isinstance(out, Decoded) and out.beam_ids.shape == (2, K, L)
    for r in range(2):
        want = exhaustive(m, inp[r], V, L, end_id, alpha)
        n = len(want)
        assert np.isfinite(out.beam_penalised[r, :n]).all() and np.isinf(out.beam_penalised[r, n:]).all()
        got = [tuple(out.beam_ids[r, k, :out.beam_lengths[r, k]]) for k in range(n)]
        assert got == [ids for _, _, ids in want]  # the same hypotheses in the same order
        np.testing.assert_allclose(out.beam_scores[r, :n], [s for _, s, _ in want], rtol=0, atol=1e-12)
        np.testing.assert_allclose(out.beam_penalised[r, :n], [p for p, _, _ in want], rtol=0, atol=1e-12)
        best = want[0][2]
        assert tuple(out.ids[r, :len(best)]) == best and out.lengths[r] == len(best)
        assert (out.ids[r, len(best):] == (end_id if end_id is not None else 0)).all()  # padded
        assert out.scores[r] == out.beam_scores[r, 0] and out.penalised[r] == out.beam_penalised[r, 0]


def reference_beam(m, inp_row, V, L, K, end_id, alpha):
    """The same beam search, one row, written plainly: every candidate of every step ranked (best
    first; ties by beam rank, then id), ends within the best K finish, the best K others live on, no
    early stop. Returns [(penalised, score, ids)] of the K best finished hypotheses."""
    live, finished = [((), 0.0)], []
    for t in range(1, L + 1):
        cands = []
        for prefix, s in live:
            ys = np.array([prefix + (v,) for v in range(V)])
            lp = teacher_forced_logp(m, np.repeat(inp_row[None], V, axis=0), ys)[:, -1]
            cands += [(s + lp[v], prefix + (v,)) for v in range(V)]
        cands.sort(key=lambda c: -c[0])  # stable: beam rank, then id, on ties
        for s, ids in cands[:K]:
            if ids[-1] == end_id:
                finished.append((s / float(length_penalty(t, alpha)), s, ids))
        live = [(ids, s) for s, ids in cands if ids[-1] != end_id][:K]
        if t == L:
            finished += [(s / float(length_penalty(t, alpha)), s, ids) for ids, s in live]
    finished.sort(key=lambda h: -h[0])
    return finished[:K]


@pytest.mark.parametrize("K, alpha", [(2, 0.0), (3, 0.8), (2, -0.5), (4, 1.5)])
@pytest.mark.parametrize("cls", [PeekySeq2seq, AttentionSeq2seq, BetterRnnlm],
                         ids=["PeekySeq2seq", "AttentionSeq2seq", "BetterRnnlm"])
def test_narrow_beam_equals_a_plain_beam_search_without_early_stopping(cls, K, alpha):
    """Pruning, as the docstring of beam_search says it is done; and stopping a row once no live beam
    can beat its K finished ones changes nothing (the plain version never stops early)."""
    V, L = 4, 6
    m, inp, end = with_an_end_id(cls, V, 3, L)
    out = decode(m, inp, L, "beam", width=K, end_id=end, length_penalty=alpha)
    for r in range(len(inp)):
        want = reference_beam(m, inp[r], V, L, K, end, alpha)
        got = [tuple(out.beam_ids[r, k, :out.beam_lengths[r, k]]) for k in range(len(want))]
        assert got == [ids for _, _, ids in want]
        np.testing.assert_allclose(out.beam_penalised[r, :len(want)], [p for p, _, _ in want], rtol=0, atol=1e-12)


def test_early_stopping_happens_in_a_narrow_beam_case():
    """One of the cases above stops every row early (else they would not test stopping)."""
    V, L = 4, 6
    m, inp, end = with_an_end_id(PeekySeq2seq, V, 3, L)
    steps = []
    step = m.decode_step
    m.decode_step = lambda state, ids: steps.append(1) or step(state, ids)
    decode(m, inp, L, "beam", width=2, end_id=end)
    assert len(steps) < L


class MarkovStepModel:
    """The step protocol on a table: the next id's logits depend only on the previous id."""

    def __init__(self, probs):
        self.table = np.log(np.asarray(probs, np.float64))
        self.decode_vocab_size = len(probs)

    def decode_step(self, state, ids):
        return self.table[ids], (state[0] + 1,)

    def decode_select(self, state, rows):
        return select_rows(state, rows)


def test_stopping_waits_for_a_beam_that_the_length_penalty_can_still_lift():
    """From the start id 0 the end id 1 has p 0.6, id 2 has 0.4 and then repeats itself with p 0.99.
    By summed log-probability [1] wins; with alpha 2, [2, 2, 2, 2, 2, 2] does (-0.966 / ((5 + 6) / 6)^2
    = -0.287 > log 0.6 = -0.511). Width 1 finishes [1] at step 1 and must keep its live beam [2] (score
    -0.916), which can still reach -0.916 / lp(6) = -0.273 > -0.511."""
    eps = 1e-9
    probs = [[eps, 0.6 - eps, 0.4], [1 / 3] * 3, [eps, 0.01, 0.99 - eps]]  # rows sum to 1
    m = MarkovStepModel(probs)
    for alpha, want in ((0.0, [1]), (2.0, [2] * 6)):
        opts = check_options(3, "beam", 6, end_id=1, width=1, length_penalty=alpha)
        out = run(m, (np.zeros(2),), np.zeros(2, np.int64), opts)
        for r in range(2):
            assert out.ids[r, :out.lengths[r]].tolist() == want
        s = np.log(0.6 - eps) if alpha == 0 else np.log(0.4) + 5 * np.log(0.99 - eps)
        np.testing.assert_allclose(out.scores, s, rtol=1e-12)
        np.testing.assert_allclose(out.penalised, s / length_penalty(len(want), alpha), rtol=1e-12)


def test_ties_go_to_the_better_beam_then_the_lower_id():
    """A uniform model: every sequence ties. Beam search keeps the first ones in (beam rank, id)
    order, i.e. the lexicographically first, and greedy (argmax) takes the first of those."""
    V, L, K = 5, 3, 12  # 2K = 24 candidates kept per step: more than a sort keeps stable by accident
    m = MarkovStepModel(np.full((V, V), 1 / V))
    out = run(m, (np.zeros(2),), np.zeros(2, np.int64), check_options(V, "beam", L, width=K))
    want = [list(y) for y in itertools.product(range(V), repeat=L)][:K]
    assert out.beam_ids[0].tolist() == want and out.beam_ids[1].tolist() == want
    np.testing.assert_allclose(out.beam_scores, L * np.log(1 / V), rtol=1e-12)
    g = run(m, (np.zeros(2),), np.zeros(2, np.int64), check_options(V, "greedy", L))
    assert g.ids.tolist() == [[0, 0, 0]] * 2


# ---- width 1, top-k 1 and a tiny top-p are greedy -----------------------------------------------

def with_an_end_id(cls, V, N, L):
    """(model, inputs, end id) where the end id ends some greedy rows early, after other ids, and is
    absent from others: the first seed whose random model has such an id (small random models often
    repeat one id in every row)."""
    for seed in range(20):
        m = build(cls, V, seed=seed, scale=2.0)
        inp = inputs(cls, N, V, seed=seed)
        ids = decode(m, inp, L).ids
        for v in range(V):
            n = np.where((ids == v).any(axis=1), np.argmax(ids == v, axis=1) + 1, L)  # lengths, ending at v
            if (n == L).any() and ((1 < n) & (n < L)).any():
                return m, inp, v
    raise AssertionError(f"no {cls.__name__} with a usable end id in 20 seeds")


@pytest.mark.parametrize("with_end", [False, True], ids=["no-end", "end"])
@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_width_one_top_k_one_and_tiny_top_p_equal_greedy(cls, with_end):
    V = 5
    m, inp, end_id = with_an_end_id(cls, V, 6, 6)
    if not with_end:
        end_id = None
    g = decode(m, inp, 6, end_id=end_id)
    for other in (decode(m, inp, 6, "beam", width=1, end_id=end_id),
                  decode(m, inp, 6, "sample", top_k=1, seed=0, end_id=end_id),
                  decode(m, inp, 6, "sample", top_p=1e-9, seed=1, end_id=end_id),
                  decode(m, inp, 6, "sample", top_k=1, temperature=5.0, seed=2, end_id=end_id)):
        np.testing.assert_array_equal(other.ids, g.ids)
        np.testing.assert_array_equal(other.lengths, g.lengths)
        np.testing.assert_allclose(other.scores, g.scores, rtol=0, atol=1e-12)
    if with_end:
        assert (g.lengths < 6).any() and (g.lengths == 6).any()


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_greedy_scores_are_the_teacher_forced_log_probabilities(cls):
    V = 5
    m = build(cls, V)
    inp = inputs(cls, 4, V)
    g = decode(m, inp, 5)
    np.testing.assert_allclose(g.scores, teacher_forced_logp(m, inp, g.ids).sum(axis=1), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(g.lengths, 5)


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_greedy_with_an_end_id_is_greedy_cut_at_the_end_and_padded(cls):
    V, L, pad = 4, 6, 99
    m, inp, end = with_an_end_id(cls, V, 8, L)
    full = decode(m, inp, L)
    cut = decode(m, inp, L, end_id=end, pad_id=pad)
    logp = teacher_forced_logp(m, inp, full.ids)
    assert (cut.lengths < L).any() and (cut.lengths == L).any(), cut.lengths  # both kinds of rows
    assert (cut.lengths > 1).any()  # and the end id also comes after other ids
    for r in range(len(inp)):
        n = int(np.argmax(full.ids[r] == end)) + 1 if (full.ids[r] == end).any() else L
        assert cut.lengths[r] == n
        np.testing.assert_array_equal(cut.ids[r, :n], full.ids[r, :n])
        assert (cut.ids[r, n:] == pad).all()
        assert abs(cut.scores[r] - logp[r, :n].sum()) < 1e-12


# ---- the book's generate is greedy decoding --------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls", SEQ2SEQ, ids=[c.__name__ for c in SEQ2SEQ])
def test_greedy_decode_equals_generate(cls, dtype):
    V = 9
    m = cls(V, 8, 16, dtype=dtype, seed=2)  # the models' own init, float32 by default
    xs = inputs(cls, 16, V)
    np.testing.assert_array_equal(m.decode(xs, 3, 7).ids, m.generate(xs, 3, 7))
    m = build(cls, V, dtype=dtype)
    start = np.arange(16) % V  # one start id per row
    np.testing.assert_array_equal(m.decode(xs, start, 7).ids, m.generate(xs, start[:, None], 7))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls", LMS, ids=[c.__name__ for c in LMS])
def test_lm_greedy_decode_equals_generate_and_leaves_the_lm_state_alone(cls, dtype):
    V = 9
    m = build(cls, V, dtype=dtype)
    m.predict(inputs(cls, 1, V))  # a training-like state that decode must not touch
    h = [lstm.h.copy() for lstm in m._lstms()]
    assert m.decode(4, 8).ids[0].tolist() == m.generate(4, 8, greedy=True)[1:]
    assert m.decode([1, 2, 3], 8).ids[0].tolist() == m.generate([1, 2, 3], 8, greedy=True)[3:]
    assert m.decode([[1, 2, 3]], 8, skip_ids=[0, 5]).ids[0].tolist() == \
        m.generate([1, 2, 3], 8, greedy=True, skip_ids=[0, 5])[3:]
    for lstm, h0 in zip(m._lstms(), h):
        np.testing.assert_array_equal(lstm.h, h0)


# ---- batches -------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_a_batch_decodes_as_each_row_alone(cls):
    V = 6
    m = build(cls, V, scale=1.0)
    inp = inputs(cls, 5, V)
    for kw in (dict(), dict(method="beam", width=3, end_id=1, length_penalty=0.6)):
        both = decode(m, inp, 5, **kw)
        for r in range(len(inp)):
            one = decode(m, inp[r:r + 1], 5, **kw)
            np.testing.assert_array_equal(one.ids[0], both.ids[r])
            np.testing.assert_allclose(one.scores[0], both.scores[r], rtol=0, atol=1e-12)
            if kw:
                np.testing.assert_array_equal(one.beam_ids[0], both.beam_ids[r])
                np.testing.assert_allclose(one.beam_penalised[0], both.beam_penalised[r], rtol=0, atol=1e-12)


def test_beam_output_is_ranked_and_consistent():
    V, K, L = 8, 5, 7
    m = build(AttentionSeq2seq, V, scale=1.0)
    xs = inputs(AttentionSeq2seq, 4, V)
    out = m.decode(xs, 0, L, "beam", width=K, end_id=3, length_penalty=0.7)
    assert out.beam_ids.shape == (4, K, L) and out.beam_scores.shape == (4, K)
    assert (np.diff(out.beam_penalised, axis=1) <= 0).all()  # best first
    np.testing.assert_allclose(out.beam_penalised, out.beam_scores / length_penalty(out.beam_lengths, 0.7))
    for r in range(4):
        for k in range(K):
            n = out.beam_lengths[r, k]
            ids = out.beam_ids[r, k]
            assert (ids[:n - 1] != 3).all() and (n == L or ids[n - 1] == 3) and (ids[n:] == 3).all()
            lp = teacher_forced_logp(m, xs[r:r + 1], ids[None])[0]
            assert abs(lp[:n].sum() - out.beam_scores[r, k]) < 1e-12
        assert len({tuple(out.beam_ids[r, k, :out.beam_lengths[r, k]]) for k in range(K)}) == K  # distinct


# ---- sampling --------------------------------------------------------------------------------

def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def assert_frequencies(ids, p, n):
    """Every id's frequency within 4 standard deviations of its probability: |f - p| <= 4 sqrt(p (1 - p) / n)
    (and ids of probability 0 never drawn). With fixed seeds the outcome is fixed; at 4 sigma a correct
    sampler fails a given id with probability about 6e-5."""
    f = np.bincount(ids, minlength=len(p)) / n
    tol = 4 * np.sqrt(p * (1 - p) / n) + 1e-12
    assert (np.abs(f - p) <= tol).all(), (f, p, tol)


@pytest.mark.parametrize("temperature, top_k, top_p", [(1.0, None, None), (0.5, None, None), (2.0, None, None),
                                                       (1.0, 3, None), (0.7, None, 0.6), (1.5, 4, 0.8)])
def test_sampled_frequencies_match_the_softmax(temperature, top_k, top_p):
    V, n = 6, 20000
    m = build(Seq2seq, V, scale=1.0)
    xs = np.repeat(inputs(Seq2seq, 1, V), n, axis=0)  # n rows of one source: n draws of the first id
    out = m.decode(xs, 0, 1, "sample", temperature=temperature, top_k=top_k, top_p=top_p, seed=0)
    hs = m.encoder.forward(xs[:1])
    z = np.asarray(m.decoder.forward(np.zeros((1, 1), int), m.encoder.final_state(hs)))[0, 0]
    p = _softmax(z / temperature)
    keep = np.ones(V, bool)
    if top_k is not None:
        keep[np.argsort(-z, kind="stable")[top_k:]] = False
        p = np.where(keep, p, 0) / p[keep].sum()
    if top_p is not None:
        order = np.argsort(-p, kind="stable")
        before = np.cumsum(p[order]) - p[order]
        keep[order[before >= top_p]] = False
        p = np.where(keep, p, 0) / p[keep].sum()
    assert 1 < keep.sum() < V or (top_k is None and top_p is None)  # the filter bites, but leaves a choice
    assert_frequencies(out.ids[:, 0], p, n)
    # the reported scores are the model's log-probabilities (no temperature or filtering)
    logp = z - z.max() - np.log(np.exp(z - z.max()).sum())
    np.testing.assert_allclose(out.scores, logp[out.ids[:, 0]], rtol=0, atol=1e-12)


def test_sampled_pairs_match_the_language_models_joint_distribution():
    """Two steps from an Rnnlm: the frequency of each (y1, y2) is p(y1) p(y2 | y1), so the state
    carried between sampling steps is checked too."""
    V, n, T = 3, 20000, 1.3
    m = build(Rnnlm, V, scale=2.0)
    prompt = np.repeat(inputs(Rnnlm, 1, V), n, axis=0)
    out = m.decode(prompt, 2, "sample", temperature=T, seed=5)
    pairs = np.array(list(itertools.product(range(V), repeat=2)))
    m.reset_state()
    s = np.asarray(m.predict(np.concatenate([np.repeat(prompt[:1], len(pairs), 0), pairs[:, :1]], axis=1)))
    p1 = _softmax(s[0, 1] / T)
    p = np.array([p1[a] * _softmax(s[i, 2] / T)[b] for i, (a, b) in enumerate(pairs)])
    assert_frequencies(out.ids[:, 0] * V + out.ids[:, 1], p, n)


@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_sampling_is_deterministic_for_a_seed(cls):
    V = 7
    m = build(cls, V, scale=0.7)
    inp = inputs(cls, 8, V)
    a = decode(m, inp, 10, "sample", seed=123, top_p=0.95)
    b = decode(m, inp, 10, "sample", seed=123, top_p=0.95)
    c = decode(m, inp, 10, "sample", seed=124, top_p=0.95)
    d = decode(m, inp, 10, "sample", rng=np.random.default_rng(123), top_p=0.95)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.ids, d.ids)  # seed=s is rng=default_rng(s)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert not np.array_equal(a.ids, c.ids)


def test_sample_ids_edge_cases():
    rng = np.random.default_rng(0)
    logits = np.array([[0.0, -np.inf, 1.0, -np.inf], [-np.inf, -np.inf, -np.inf, 2.0]])
    for _ in range(200):  # excluded ids (-inf) are never drawn, also when the last id is excluded
        ids = sample_ids(logits, rng, top_p=0.99)
        assert ids[0] in (0, 2) and ids[1] == 3

    class Fixed:  # a generator whose every draw is u
        def __init__(self, u):
            self.u = u

        def random(self, n):
            return np.full(n, self.u)
    # draws at the ends of [0, 1) still land on allowed ids
    assert sample_ids(np.array([[0.0, 0.0, -np.inf]]), Fixed(np.nextafter(1.0, 0.0)))[0] == 1
    assert sample_ids(np.array([[-np.inf, 0.0, 0.0]]), Fixed(0.0))[0] == 1
    # top-p keeps the smallest set that reaches p: one of two equally likely ids reaches 0.5
    assert {int(sample_ids(np.zeros((1, 2)), rng, top_p=0.5)[0]) for _ in range(50)} == {0}
    assert {int(sample_ids(np.zeros((1, 2)), rng, top_p=0.51)[0]) for _ in range(50)} == {0, 1}
    tie = np.array([[1.0, 3.0, 3.0, 0.0]])
    assert sample_ids(tie, rng, top_k=1)[0] == 1  # top-k ties: the lower id, as argmax


# ---- arguments -------------------------------------------------------------------------------

BAD = [
    (dict(max_len=0), "max_len"), (dict(max_len=2.0), "max_len"), (dict(max_len=True), "max_len"),
    (dict(method="topk"), "method"),
    (dict(method="beam", width=0), "width"), (dict(method="beam", width=1.5), "width"),
    (dict(method="beam", length_penalty=float("nan")), "length_penalty"),
    (dict(method="sample", temperature=0), "temperature"), (dict(method="sample", temperature=-1.0), "temperature"),
    (dict(method="sample", temperature=float("inf")), "temperature"),
    (dict(method="sample", top_p=0.0), "top_p"), (dict(method="sample", top_p=1.5), "top_p"),
    (dict(method="sample", top_k=0), "top_k"),
    (dict(method="sample", seed=1, rng=np.random.default_rng(1)), "seed, rng"),
    (dict(method="sample", seed="x"), "seed"),
    (dict(end_id=5), "end_id"), (dict(end_id=-1), "end_id"), (dict(pad_id=1.5), "pad_id"),
    (dict(skip_ids=[5]), "skip_ids"), (dict(skip_ids=[0, 1, 2, 3, 4]), "skip_ids"),
    (dict(width=2), "width"), (dict(method="sample", width=2), "width"),  # options of another method
    (dict(temperature=0.5), "temperature"), (dict(method="beam", top_k=3), "top_k"),
]


@pytest.mark.parametrize("kw, name", BAD, ids=[f"{n}-{i}" for i, (_, n) in enumerate(BAD)])
@pytest.mark.parametrize("cls", [AttentionSeq2seq, Rnnlm], ids=["AttentionSeq2seq", "Rnnlm"])
def test_bad_arguments_raise_naming_the_argument(cls, kw, name):
    m = build(cls, 5)
    inp = inputs(cls, 2, 5)
    kw = dict(kw)
    max_len = kw.pop("max_len", 3)
    with pytest.raises(ValueError, match=f"^{name}: "):
        decode(m, inp, max_len, **kw)


def test_bad_start_ids_and_prompts_and_rng():
    m = build(Seq2seq, 5)
    xs = inputs(Seq2seq, 2, 5)
    for start, why in ((5, r"in \[0, 5\)"), (-1, r"in \[0, 5\)"), ([0, 1, 2], "one id or 2"), (0.5, "integer ids")):
        with pytest.raises(ValueError, match=f"^start_id: .*{why}"):
            m.decode(xs, start, 3)
    lm = build(Rnnlm, 5)
    for prompt, why in ((7, r"in \[0, 5\)"), ([[1, 9]], r"in \[0, 5\)"), (np.zeros((1, 0), int), "N, P >= 1"),
                        (np.zeros((1, 2, 2), int), "N, P >= 1"), ([0.5], "integer ids")):
        with pytest.raises(ValueError, match=f"^prompt: .*{why}"):
            lm.decode(prompt, 3)
    with pytest.raises(TypeError, match="^rng: expected a numpy.random.Generator"):
        lm.decode(1, 3, "sample", rng=np.random.RandomState(0))


# ---- CuPy models decode as NumPy ones ------------------------------------------------------------

try:
    import cupy as cp
    _gpus = cp.cuda.runtime.getDeviceCount()
except Exception:  # CuPy missing, or no driver/GPU
    cp, _gpus = None, 0


@pytest.mark.gpu
@pytest.mark.skipif(cp is None or _gpus == 0, reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("cls", ALL, ids=IDS)
def test_cupy_models_decode_as_numpy_ones(cls):
    V = 6
    host, dev = build(cls, V), build(cls, V, xp=cp)  # the same weights
    inp = inputs(cls, 4, V)
    for kw in (dict(), dict(method="beam", width=3, end_id=1, length_penalty=0.5),
               dict(method="sample", seed=0, top_k=4, top_p=0.9, temperature=0.8)):
        a, b = decode(host, inp, 5, **kw), decode(dev, cp.asarray(inp), 5, **kw)
        assert isinstance(b.ids, np.ndarray)  # results come back on the host
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=1e-10)
