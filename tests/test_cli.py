"""The `pyrnn` command: info and gradcheck, run as a user would."""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import pyrnn


def run(*args, env=None):
    # cwd elsewhere: `python -m` puts cwd on sys.path, and the source tree has no compiled modules
    return subprocess.run([sys.executable, "-m", "pyrnn", *args], capture_output=True, text=True,
                          cwd=tempfile.gettempdir(), env=env)


def test_info_lists_every_backend_with_a_reason():
    out = run("info")
    assert out.returncode == 0, out.stderr
    assert f"pyrnn {pyrnn.__version__}" in out.stdout
    for name in ("reference", "cpp", "numba", "cuda", "numba-cuda"):
        assert f"  {name} " in out.stdout
    assert "NumPy BLAS" in out.stdout and "CPU threads" in out.stdout


def test_info_json():
    out = run("info", "--json")
    d = json.loads(out.stdout)
    assert d["backends"]["reference"]["usable"] is True
    assert d["default_numpy"] in ("cpp", "numba", "reference")


def test_gradcheck_cli_passes_and_prints_a_table():
    out = run("gradcheck", "--case", "TimeLSTM", "--case", "op gru")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "TimeLSTM stateful chunk" in out.stdout and "op gru reset_after" in out.stdout
    assert " 0 failed" in out.stdout


def test_gradcheck_cli_rejects_unknown_case_and_backend():
    assert run("gradcheck", "--case", "no-such-layer").returncode == 2
    bad = run("gradcheck", "--backend", "nope")
    assert bad.returncode == 2 and "unknown backend" in bad.stderr


def test_bench_quick_smoke(tmp_path):
    """A smoke run of `pyrnn bench` (no timing is asserted: speed lives in benchmarks/)."""
    out_json = tmp_path / "bench.json"
    out = run("bench", "--quick", "--no-torch", "--op", "lstm", "--json", str(out_json))
    assert out.returncode == 0, out.stderr
    assert "lstm   fwd+bwd" in out.stdout and "% GEMM" in out.stdout
    rows = json.loads(out_json.read_text())["rows"]
    assert {r["mode"] for r in rows} == {"fwd", "fwd+bwd"} and all(r["pyrnn_ms"] > 0 for r in rows)
    assert all(r["first_call_ms"] > 0 for r in rows)
    forced = run("bench", "--quick", "--no-torch", "--no-reference", "--op", "gru", "--backend", "reference")
    assert forced.returncode == 0, forced.stderr
    assert "gru-ra fwd+bwd" in forced.stdout and " reference " in forced.stdout


def test_bench_gpu_without_a_usable_gpu_says_why(tmp_path):
    """`pyrnn bench --gpu` with no GPU visible (CUDA_VISIBLE_DEVICES empty hides any there is): exit
    status 2, the reason on stderr, no JSON written. The GPU run itself is in tests/test_cuda_backend.py."""
    out_json = tmp_path / "gpu.json"
    out = run("bench", "--gpu", "--quick", "--json", str(out_json), env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert out.returncode == 2, out.stdout + out.stderr
    assert "pyrnn bench --gpu: no GPU to benchmark on: " in out.stderr
    assert any(why in out.stderr for why in ("CuPy is not installed", "no GPU visible", "unusable")), out.stderr
    assert not out_json.exists()


def test_demo_date_smoke(tmp_path):
    """A tiny `pyrnn demo date` (the README's main job, shrunk): it trains, reports speed vs
    the reference, writes the heat map and ends with the accuracy line."""
    out = run("demo", "date", "--examples", "256", "--epochs", "1", "--hidden", "16", "--no-progress",
              "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-1].startswith("exact-match accuracy: ")
    assert 0.0 <= float(lines[-1].split(": ")[1]) <= 1.0
    assert "x faster" in out.stdout and "epoch 1: loss" in out.stdout
    assert_labelled_heat_map(tmp_path / "date_attention.png")


def png_chunks(data):
    """(type, payload) of each chunk of a PNG file's bytes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    pos, chunks = 8, []
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        chunks.append((data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]))
        pos += 12 + n
    return chunks


def assert_labelled_heat_map(path):
    """The heat map is the matplotlib plot (axes, tick labels, title, colour bar), not the bare
    grayscale fallback: a colour PNG from matplotlib, big enough for labels around the map, with a
    colour scale (the viridis bar: pixels far from gray)."""
    chunks = png_chunks(path.read_bytes())
    width, height, _, colour_type = struct.unpack(">IIBB", chunks[0][1][:10])
    assert colour_type in (2, 6), f"colour type {colour_type}: the grayscale fallback, not the plot"
    assert any(kind == b"tEXt" and b"Matplotlib" in body for kind, body in chunks), "not drawn by matplotlib"
    assert width >= 500 and height >= 300, (width, height)
    import matplotlib.image

    rgb = matplotlib.image.imread(str(path))[..., :3]
    spread = rgb.max(axis=-1) - rgb.min(axis=-1)
    assert (spread > 0.3).mean() > 0.02, "no coloured area: the map and its colour bar are missing"
    assert (rgb.min(axis=-1) > 0.95).mean() > 0.1, "no white margin for the axes' labels and title"


def test_heat_map_labels_both_axes_titles_and_adds_a_colour_bar(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pyrnn.cli.demo import attention_heatmap

    drawn = []
    real_savefig = plt.Figure.savefig

    def spy(fig, *a, **k):  # what the figure holds when it is saved
        ax = fig.axes[0]
        drawn.append(([t.get_text() for t in ax.get_xticklabels()], [t.get_text() for t in ax.get_yticklabels()],
                      ax.get_title(), len(fig.axes)))
        return real_savefig(fig, *a, **k)

    weights = np.random.default_rng(0).dirichlet(np.ones(4), size=3)  # (Td, Te), rows sum to 1
    plt.Figure.savefig = spy
    try:
        assert attention_heatmap(tmp_path / "a.png", weights, list("ab c"), list("xyz"), title="'ab c' -> 'xyz'")
    finally:
        plt.Figure.savefig = real_savefig
    xt, yt, title, n_axes = drawn[0]
    assert xt == ["a", "b", "\u00b7", "c"] and yt == ["x", "y", "z"] and title == "'ab c' -> 'xyz'"
    assert n_axes == 2, "no colour bar"


def test_demo_other_tasks_smoke(tmp_path):
    expect = {"addition": "exact-match accuracy: plain", "sentiment": "Transformer  epoch 1: loss",
              "rnnlm": "validation perplexity (last epoch, best epoch): plain"}
    for task, text in expect.items():
        size = ["--examples", "256"] if task != "rnnlm" else ["--examples", "3000", "--vocab", "200"]
        out = run("demo", task, *size, "--epochs", "1", "--hidden", "8", "--no-progress", "--out", str(tmp_path))
        assert out.returncode == 0, (task, out.stderr)
        assert text in out.stdout, (task, out.stdout)
        if task == "rnnlm":  # the built-in corpus cut to 3000 tokens, 200 words; a line per model and epoch
            assert "2700 training / 300 validation tokens, vocabulary 200" in out.stdout
            assert "plain          epoch 1: train perplexity" in out.stdout
            assert "dropout+tying  epoch 1: train perplexity" in out.stdout
        if task == "sentiment":  # a line per model and epoch: loss, time, accuracy
            assert re.search(r"BiLSTM       epoch 1: loss \d+\.\d{4}  \d+\.\d s  held-out accuracy \d\.\d{4}",
                             out.stdout), out.stdout


def test_progress_bars_stay_out_of_logs(tmp_path):
    """Progress bars are drawn only on a terminal: a run whose stderr is a pipe (a log, CI) gets the
    per-epoch lines and no carriage-return frames, even without --no-progress."""
    out = run("demo", "sentiment", "--examples", "256", "--epochs", "2", "--hidden", "8", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "\r" not in out.stderr and "it/s" not in out.stderr, out.stderr[:500]
    assert "BiLSTM       epoch 2: loss" in out.stdout


def test_demo_help_shows_each_tasks_defaults():
    for task, defaults in {"date": ("default 3)", "default 256)", "default 45000", "default 0.003)"),
                           "addition": ("default 25)", "default 128)", "default 0.001)"),
                           "rnnlm": ("default 8)", "default 200)", "default: all)", "--corpus", "default 3000"),
                           "sentiment": ("default 3)", "default 32)", "default 10000")}.items():
        out = run("demo", task, "--help")
        assert out.returncode == 0, out.stderr
        text = " ".join(out.stdout.split())  # argparse wraps lines
        for d in defaults:
            assert d in text, (task, d, text)
        assert "defaults take about" in text and "--seed SEED seed of the data" in text, text
    assert "--corpus" not in " ".join(run("demo", "date", "--help").stdout.split())


def test_bench_says_why_the_torch_columns_are_empty(monkeypatch):
    from pyrnn.cli import bench

    out = run("bench", "--quick", "--no-torch", "--no-reference", "--op", "gru", "--mode", "fwd")
    assert out.returncode == 0, out.stderr
    assert "torch    skipped (--no-torch)" in out.stdout
    assert all(len(line) <= 100 for line in out.stdout.splitlines()), out.stdout  # no wrapped lines
    assert "gru-ra fwd     4,8,16,16" in out.stdout and "the reset-after GRU" in out.stdout
    monkeypatch.setattr(bench, "torch_version", lambda: None)
    assert "torch    not installed, so its cells show '-': pip install 'pyrnn[torch]'" in bench.legend(torch=True)


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_python_started_in_the_source_tree_says_so_once():
    """From the repository's root, `import pyrnn` finds the source tree, which has no compiled
    modules: pyrnn says so once on stderr, and `pyrnn info` gives that as the reason cpp is
    unusable (not "not built"). From anywhere else: no such warning."""
    if os.path.dirname(os.path.abspath(pyrnn.__file__)) == os.path.join(REPO, "pyrnn"):
        pytest.skip("an editable install: the source tree is the installed copy and has the compiled modules")
    here = subprocess.run([sys.executable, "-c", "import pyrnn, pyrnn.layers, pyrnn.ops"],
                          capture_output=True, text=True, cwd=REPO)
    assert here.returncode == 0, here.stderr
    assert here.stderr.count("pyrnn: WARNING: pyrnn was imported from the source tree") == 1, here.stderr
    assert "no compiled modules" in here.stderr and "run from another folder" in here.stderr.lower()
    info = subprocess.run([sys.executable, "-m", "pyrnn", "info"], capture_output=True, text=True, cwd=REPO)
    cpp_line = next(line for line in info.stdout.splitlines() if line.startswith("  cpp "))
    assert "imported from the source tree" in cpp_line and "not built" not in cpp_line, cpp_line
    elsewhere = run("info")
    assert "WARNING" not in elsewhere.stderr, elsewhere.stderr


def test_demo_rnnlm_on_a_local_text_file(tmp_path):
    text = tmp_path / "mine.txt"
    rng = np.random.default_rng(0)
    words = ["the", "cat", "dog", "sat", "ran", "on", "a", "mat", "rug", "and"]
    text.write_text("\n".join(" ".join(rng.choice(words, 12)) + "." for _ in range(120)), encoding="utf-8")
    out = run("demo", "rnnlm", "--corpus", str(text), "--epochs", "2", "--hidden", "8", "--no-progress",
              "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    # 120 lines x (12 words + "." + <eos>) = 1680 tokens; 12 distinct, under --vocab 3000: no <unk>
    assert f"corpus: {text}: 1512 training / 168 validation tokens, vocabulary 12;" in out.stdout
    assert "dropout+tying  epoch 2: train perplexity" in out.stdout


def test_demo_date_with_beam_search_reports_both(tmp_path):
    """`pyrnn demo date --beam K`: the beam line (greedy's and beam search's exact match) comes right
    before the unchanged last line."""
    out = run("demo", "date", "--examples", "256", "--epochs", "1", "--hidden", "16", "--no-progress",
              "--out", str(tmp_path), "--beam", "3")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    m = re.fullmatch(r"held-out exact match: greedy (\d\.\d{4}), beam search \(width 3\) (\d\.\d{4}) "
                     r"\(\d+\.\d s for the beam search\)", lines[-2])
    assert m, lines[-2]
    assert lines[-1] == f"exact-match accuracy: {m.group(1)}"
    assert "--beam K" in " ".join(run("demo", "date", "--help").stdout.split())


def test_bench_generate_quick(tmp_path):
    """A smoke run of `pyrnn bench --generate` (no speed asserted): one row per batch, each with the
    per-step breakdown, and the JSON rows."""
    out_json = tmp_path / "gen.json"
    out = run("bench", "--generate", "--quick", "--no-torch", "--json", str(out_json))
    assert out.returncode == 0, out.stderr
    assert "torch    skipped (--no-torch)" in out.stdout and "pyrnn ms/step:" in out.stdout
    rows = json.loads(out_json.read_text())["rows"]
    assert [r["batch"] for r in rows] == [1, 4] and all(r["pyrnn_tokens_per_s"] > 0 for r in rows)
    assert all(r["torch_tokens_per_s"] is None and r["ratio"] is None for r in rows)
    assert set(rows[0]["breakdown_ms"]["pyrnn"]) == {"embedding", "lstm", "affine", "argmax+logsumexp"}


def test_bench_generate_quick_against_torch():
    """With torch: a tokens/s cell and a ratio per row, and the torch loop decoded pyrnn's ids."""
    pytest.importorskip("torch")
    out = run("bench", "--generate", "--quick")
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if re.match(r"\s+(1|4)\s+200,16,32", line)]
    assert len(rows) == 2 and all(re.search(r"\d+\.\d\dx  yes$", line.rstrip()) for line in rows), out.stdout
    assert "torch ms/step:" in out.stdout


def test_bench_lengths_quick(tmp_path):
    """A smoke run of `pyrnn bench --lengths` (no speed asserted): a row per op with every column,
    with torch where it is installed, and the JSON rows."""
    out_json = tmp_path / "lengths.json"
    out = run("bench", "--lengths", "--quick", "--json", str(out_json))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "lengths/full" in out.stdout and re.search(r"^lstm   4,8,16,16 ", out.stdout, re.M), out.stdout
    rows = json.loads(out_json.read_text())["rows"]
    assert [r["op"] for r in rows] == ["lstm", "gru"]
    assert all(0 < r["real"] < 1 and r["full_ms"] > 0 and r["lengths_ms"] > 0 and r["packed_ms"] > 0 for r in rows)
    try:
        import torch  # noqa: F401
        assert all(r["torch_ms"] > 0 and r["vs_torch"] > 0 for r in rows)
    except ImportError:
        assert all(r["torch_ms"] is None for r in rows) and "pip install 'pyrnn[torch]'" in out.stdout


def test_bench_step_quick(tmp_path):
    """A smoke run of `pyrnn bench --step` (no speed asserted): one row with every column."""
    out_json = tmp_path / "step.json"
    out = run("bench", "--step", "--quick", "--no-torch", "--json", str(out_json))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "step/numpy" in out.stdout and re.search(r"^2, 16 ", out.stdout, re.M), out.stdout
    rows = json.loads(out_json.read_text())["rows"]
    assert [(r["N"], r["H"]) for r in rows] == [(2, 16)]
    assert all(r["layer_us"] > 0 and r["step_us"] > 0 and r["numpy_us"] > 0 and r["torch_us"] is None for r in rows)


def test_bench_attention_quick_with_a_forced_backend():
    out = run("bench", "--attention", "--quick", "--no-torch", "--backend", "reference")
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith(("TimeAttention", "sdpa", "layer_norm"))]
    assert len(rows) == 4 and all(" reference " in line for line in rows), out.stdout


def test_demo_date_gnmt_smoke(tmp_path):
    """`pyrnn demo date --model gnmt`: the GNMT-style model on right-padded sources of different
    lengths (the encoder runs each for its own length), tiny; the heat map is drawn for it too."""
    out = run("demo", "date", "--model", "gnmt", "--layers", "3", "--dropout", "0.1", "--examples", "256",
              "--epochs", "1", "--hidden", "8", "--no-progress", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "GNMT-style seq2seq, 3 layers a side, dropout 0.1" in out.stdout
    assert out.stdout.strip().splitlines()[-1].startswith("exact-match accuracy: ")
    assert_labelled_heat_map(tmp_path / "date_attention.png")


# --- the `pyrnn` command's process-wide setting for NumPy's OpenBLAS threads (pyrnn/_process.py) ---

@pytest.mark.parametrize("argv, expected", [
    (["/v/bin/python", "/v/bin/pyrnn", "bench"], True),
    (["python", "-m", "pyrnn", "info"], True),
    (["python", "-m", "pyrnn"], True),
    (["python", "-X", "importtime", "-E", "-m", "pyrnn.cli", "info"], True),
    (["python", "-m", "pytest", "tests"], False),
    (["python", "-c", "import pyrnn"], False),
    (["python", "train.py", "-m", "pyrnn"], False),  # a user's script, whatever its arguments
    (["python"], False),
])
def test_started_as_cli(argv, expected):
    from pyrnn._process import started_as_cli
    assert started_as_cli(argv) is expected


def _numpy_uses_openblas():
    from pyrnn._process import _numpy_openblas_timeout
    return _numpy_openblas_timeout() is not None


def test_the_pyrnn_command_puts_numpy_blas_threads_to_sleep_and_a_library_import_does_not():
    """`pyrnn info` reports what NumPy's OpenBLAS itself read at load (its openblas_thread_timeout):
    4 in the command, the user's value where they set one, untouched by a plain `import pyrnn`."""
    if not _numpy_uses_openblas():
        pytest.skip("NumPy's BLAS here is not an OpenBLAS (nothing spins; nothing to set)")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    d = json.loads(run("info", "--json", env=env).stdout)
    assert d["numpy_blas_threads_wait"].startswith("OPENBLAS_THREAD_TIMEOUT=4 "), d["numpy_blas_threads_wait"]
    d = json.loads(run("info", "--json", env=dict(env, OPENBLAS_THREAD_TIMEOUT="12")).stdout)
    assert d["numpy_blas_threads_wait"].startswith("OPENBLAS_THREAD_TIMEOUT=12 "), d["numpy_blas_threads_wait"]
    code = ("import os, pyrnn; from pyrnn._process import blas_spin_setting; "
            "print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'), '|', blas_spin_setting())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=tempfile.gettempdir())
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("None | spin"), out.stdout


def test_bench_blas_spin_quick(tmp_path):
    """A smoke run of `pyrnn bench --blas-spin` (no speed asserted): both settings, every column."""
    out_json = tmp_path / "spin.json"
    out = run("bench", "--blas-spin", "--quick", "--json", str(out_json))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "after/alone" in out.stdout and "4 (the pyrnn command)" in out.stdout, out.stdout
    rows = json.loads(out_json.read_text())["rows"]
    assert [r["OPENBLAS_THREAD_TIMEOUT"] for r in rows] == [None, "4"]
    assert all(r["alone_ms"] > 0 and r["after_ms"] > 0 and r["matmul_us"] > 0 for r in rows)
    if _numpy_uses_openblas():  # the child's NumPy took the setting (0: unset)
        assert [r["openblas_read"] for r in rows] == [0, 4]
