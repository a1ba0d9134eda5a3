"""The `pyrnn` command: info and gradcheck, run as a user would."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

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
    assert "lstm fwd+bwd" in out.stdout and "% GEMM" in out.stdout
    rows = json.loads(out_json.read_text())["rows"]
    assert {r["mode"] for r in rows} == {"fwd", "fwd+bwd"} and all(r["pyrnn_ms"] > 0 for r in rows)
    assert all(r["first_call_ms"] > 0 for r in rows)
    forced = run("bench", "--quick", "--no-torch", "--no-reference", "--op", "gru", "--backend", "reference")
    assert forced.returncode == 0, forced.stderr
    assert "gru  fwd+bwd" in forced.stdout and " reference " in forced.stdout


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
    assert (tmp_path / "date_attention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_other_tasks_smoke(tmp_path):
    expect = {"addition": "exact-match accuracy: plain", "sentiment": "Transformer  held-out accuracy",
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


def test_bench_attention_quick_with_a_forced_backend():
    out = run("bench", "--attention", "--quick", "--no-torch", "--backend", "reference")
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith(("TimeAttention", "sdpa", "layer_norm"))]
    assert len(rows) == 4 and all(" reference " in line for line in rows), out.stdout
