"""Expected failures of a `pyrnn` command once its arguments have parsed (issue 18, class 6): a corpus
file that is binary, not UTF-8, a damaged or truncated gzip stream, empty or too short, and a
--backend that cannot run here. Each is one line on stderr, `pyrnn demo: error: ...` naming the file
or the option and what is wrong with it, and exit status 1; `--debug` (before or after the command)
or PYRNN_DEBUG=1 shows the traceback instead. Run as a user would: `python -m pyrnn` in a subprocess
(from a folder outside the source tree, which has no compiled modules)."""
import gzip
import os
import subprocess
import sys
import tempfile

import pytest

from pyrnn import backends


def run(*args, debug_env=False):
    env = dict(os.environ)
    env.pop("PYRNN_DEBUG", None)
    if debug_env:
        env["PYRNN_DEBUG"] = "1"
    return subprocess.run([sys.executable, "-m", "pyrnn", *args], capture_output=True, text=True,
                          cwd=tempfile.gettempdir(), env=env, timeout=120)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpora")
    text = "the first line of a text\nand a second one\n" * 3
    (d / "binary.txt").write_bytes(bytes(range(256)) * 8)   # 0x80.. are not UTF-8
    (d / "nul.txt").write_bytes(b"\x00\x01\x02 header" + b"\x00" * 64)  # valid UTF-8, but NULs
    (d / "latin1.txt").write_bytes("caf\u00e9 cr\u00e8me\n".encode("latin-1"))
    gz = gzip.compress(text.encode())
    (d / "truncated.txt.gz").write_bytes(gz[:len(gz) // 2])
    (d / "not-gzip.gz").write_text(text)
    (d / "empty.txt").write_bytes(b"")
    (d / "empty.txt.gz").write_bytes(gzip.compress(b""))
    (d / "short.txt").write_text(text)
    return d


# (file, what the one line must say after the file name)
BAD_CORPORA = [
    ("binary.txt", r"not utf-8 text (byte 0x80 at offset 128: invalid start byte)"),
    ("nul.txt", "a binary file, not text (a NUL character at offset 0)"),
    ("latin1.txt", "not utf-8 text (byte 0xe9 at offset 3"),
    ("truncated.txt.gz", "a truncated gzip file"),
    ("not-gzip.gz", "not a readable gzip file (Not a gzipped file"),
    ("empty.txt", "an empty file: no text to read"),
    ("empty.txt.gz", "an empty file (once decompressed): no text to read"),
]


def assert_one_line_error(out, *needles):
    assert out.returncode == 1, (out.returncode, out.stderr[-2000:])
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert lines[0].startswith("pyrnn demo: error: "), lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.mark.parametrize("name,why", BAD_CORPORA, ids=[c[0] for c in BAD_CORPORA])
def test_bad_corpus_file_is_one_line_naming_it_and_exit_1(files, name, why):
    path = files / name
    assert_one_line_error(run("demo", "rnnlm", "--corpus", str(path), "--epochs", "1"), f"{path}: {why}")


def test_corpus_too_short_for_one_batch_is_one_line(files):
    assert_one_line_error(run("demo", "rnnlm", "--corpus", str(files / "short.txt")),
                          "corpus: 32 training tokens (90% of 36) are too few for one batch")


def test_debug_flag_or_environment_shows_the_traceback(files):
    path = str(files / "truncated.txt.gz")
    for out in (run("demo", "rnnlm", "--corpus", path, "--debug"), run("--debug", "demo", "rnnlm", "--corpus", path),
                run("demo", "rnnlm", "--corpus", path, debug_env=True)):
        assert out.returncode == 1 and "Traceback (most recent call last)" in out.stderr, out.stderr[-2000:]
        assert out.stderr.strip().splitlines()[-1].startswith(f"ValueError: {path}: a truncated gzip file")


@pytest.mark.parametrize("name", ["cuda", "numba-cuda"])
def test_backend_that_cannot_run_the_demo_names_the_option(name):
    """Unusable here: the reason (pyrnn info's); usable (a GPU machine): the demos' NumPy data cannot
    go to a CuPy backend. Either way one line naming --backend, before any work."""
    ok, detail = backends.backend_status()[name]
    want = (f"argument --backend: {name} runs on CuPy (GPU) arrays" if ok
            else f"argument --backend: {name} cannot run here: {' '.join(detail.split())}")
    out = run("demo", "date", "--backend", name, "--epochs", "1")
    assert_one_line_error(out, want)
    assert out.stdout == ""  # nothing ran
