"""The `pyrnn` command (also `python -m pyrnn`): info, gradcheck, bench, demo."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

from ._table import CPU_JSON as _CPU_JSON  # a bare --json's value


def _cmd_info(args) -> int:
    from .info import format_info, info

    d = info()
    if args.json:
        d = dict(d, backends={k: {"usable": ok, "detail": det} for k, (ok, det) in d["backends"].items()})
        print(json.dumps(d, indent=2))
    else:
        print(format_info(d))
    return 0


def _numpy_backends(requested):
    from .. import backends

    names = requested or [n for n in backends.NUMPY_ORDER if backends.backend_status()[n][0]]
    for n in names:
        backends.get(n)  # raises BackendUnavailable with the reason
    return names


def _cmd_gradcheck(args) -> int:
    from .. import backends
    from ..check import gradcheck
    from ..check.cases import CASES, build

    try:
        names = _numpy_backends(args.backend)
    except (backends.BackendUnavailable, ValueError) as e:
        print(f"pyrnn gradcheck: {e}", file=sys.stderr)
        return 2
    cases = [c for c in CASES if not args.case or any(s.lower() in c.name.lower() for s in args.case)]
    if not cases:
        print(f"pyrnn gradcheck: no case matches {args.case}", file=sys.stderr)
        return 2
    w = max(len(c.name) for c in cases)
    print(f"float64 central differences, max normwise relative error per case (pass < {args.tol:g})")
    print(f"{'case':<{w}}  " + "  ".join(f"{n:>14}" for n in names))
    failed = []
    for case in cases:
        cells = []
        for n in names:
            with backends.use_backend(n):
                layer, inputs = build(case, args.seed)
                rep = gradcheck(layer, *inputs)
            ok = rep.ok(args.tol)
            if not ok:
                failed.append((case.name, n, rep))
            cells.append(f"{rep.max_error:9.1e} {'ok' if ok else 'FAIL':>4}")
        print(f"{case.name:<{w}}  " + "  ".join(f"{c:>14}" for c in cells), flush=True)
    for name, n, rep in failed:
        print(f"\nFAILED {name} on {n}:\n{rep}")
    print(f"\n{len(cases) * len(names) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


# argparse types: a bad value exits with status 2 and "argument --x: <why>", before any work starts

def _shape(text):
    try:
        N, T, D, H = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N,T,D,H (four integers), got {text!r}") from None
    if min(N, T, D, H) < 1:
        raise argparse.ArgumentTypeError(f"expected N,T,D,H all >= 1, got {text!r}")
    return N, T, D, H


def _number(text, kind, ok, expected, expected_in_range=None):
    """text as `kind` (int or float), where ok(value); else "expected <expected>, got <the text>" when it
    does not parse, "expected <expected_in_range or expected>, got <it>" (an int's value, a float's text)
    when ok rejects it."""
    try:
        v = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not ok(v):
        got = v if kind is int else repr(text)
        raise argparse.ArgumentTypeError(f"expected {expected_in_range or expected}, got {got}")
    return v


def _positive_int(text):
    return _number(text, int, lambda v: v >= 1, "an integer >= 1")


def _vocab_size(text):
    return _number(text, int, lambda v: v == 0 or v >= 2, "0 (keep all) or an integer >= 2")


def _positive_float(text):
    # v > 0 also rejects nan
    return _number(text, float, lambda v: v > 0 and v != float("inf"), "a number > 0", "a finite number > 0")


def _ratio(text):
    return _number(text, float, lambda v: 0.0 <= v < 1.0, "a number in [0, 1)")


def _backend_name(text):
    from ..backends import _MODULES

    if text not in _MODULES:
        raise argparse.ArgumentTypeError(f"unknown backend {text!r}; choose one of {', '.join(_MODULES)}")
    return text


def _text_file(text):
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"no such file: {text!r} (expected a UTF-8 text file)")
    return text


def _out_dir(text):
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} exists and is not a folder")
    return text




# `pyrnn bench --<mode>`: a bench of its own instead of the CPU table: (mode, its module in pyrnn.cli, whose
# cli(args) runs it, the option's help); _cmd_bench runs the first mode given
_BENCH_MODES = [
    ("attention", "bench_attention",
     "time attention instead: TimeAttention vs the book's per-step NumPy, SDPA vs PyTorch"),
    ("generate", "bench_generate",
     "time generation instead: greedy decoding of an LSTM language model (vocabulary 10000, "
     "hidden 650, batch 1 and 32), tokens/s against the same loop on torch.nn.LSTM + Linear"),
    ("torch-bridge", "bench_torch",
     "time pyrnn.torch.LSTM / GRU (pyrnn's kernels inside PyTorch) against torch.nn.LSTM / GRU, "
     "fwd+bwd float32 on the CPU, and pyrnn.ops alone (the bridge's overhead)"),
    ("lengths", "bench_lengths",
     "time variable-length batches instead: LSTM/GRU fwd+bwd with lengths uniform in [T/4, T] "
     "against the same batch without lengths and torch.nn on the PackedSequence"),
    ("step", "bench_step",
     "time one LSTM step (T = 1, inference: decoding, streaming) instead: TimeLSTM, "
     "ops.lstm_step, the same step in plain NumPy and torch.nn.LSTM under no_grad"),
    ("blas-spin", "bench_blas_spin",
     "time what NumPy's spinning OpenBLAS threads cost pyrnn: LSTM fwd+bwd alone and after a "
     "NumPy matmul, with OPENBLAS_THREAD_TIMEOUT unset and at 4 (fresh processes)"),
    ("gpu", "bench_gpu",
     "time pyrnn on CuPy arrays (the CUDA backend) against PyTorch's cuDNN LSTM/GRU, "
     "fwd+bwd float32; writes benchmarks/results/gpu-<device>.json"),
]


def _cmd_bench(args) -> int:
    _tune_malloc()
    import numpy as np

    from . import bench

    for mode, module, _ in _BENCH_MODES:
        if getattr(args, mode.replace("-", "_")):
            if mode == "gpu" and args.json == _CPU_JSON:  # bare --json: the GPU bench's own default path
                args.json = None
            return importlib.import_module(f".{module}", __package__).cli(args)
    shapes = args.shape or (bench.QUICK_SHAPES if args.quick else bench.SHAPES)
    print(bench.legend(torch=not args.no_torch))
    rows = bench.run(ops_=args.op or ("lstm", "gru"), modes=args.mode or ("fwd+bwd", "fwd"), shapes=shapes,
                     dtype=np.dtype(args.dtype).type, repeat=2 if args.quick else args.repeat,
                     reference=not args.no_reference, torch=not args.no_torch, backend=args.backend,
                     progress=lambda line: print(line, flush=True))
    if args.json:
        bench.write_json(rows, args.json)
        print(f"wrote {args.json}")
    return 0


def _tune_malloc():
    """bench/demo own their process, so they opt in to the C++ module's glibc malloc tuning
    (keep freed scratch in the heap; see cpp/bindings/module.cpp) before it loads."""
    os.environ.setdefault("PYRNN_MALLOC_TUNE", "1")


class CommandError(Exception):
    """An expected failure of a command (a bad file, an unusable backend, ...): main() prints it as
    one line, `pyrnn <command>: error: <message>`, and exits with status 1."""


def _usable_numpy_backend(name):
    """--backend for commands that run on NumPy arrays: CommandError naming the option unless `name`
    can run here on NumPy arrays."""
    from .. import backends

    try:
        mod = backends.get(name)
    except backends.BackendUnavailable as e:
        raise CommandError(f"argument --backend: {name} cannot run here: {e}") from None
    if "numpy" not in mod.ARRAYS:
        usable = [n for n in backends.NUMPY_ORDER if backends.backend_status()[n][0]]
        raise CommandError(f"argument --backend: {name} runs on CuPy (GPU) arrays, and this command's data are "
                           f"NumPy arrays; choose one of {', '.join(usable)}")


def _cmd_demo(args) -> int:
    _tune_malloc()
    from . import demo

    if args.backend:
        _usable_numpy_backend(args.backend)
    return demo.run(args)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="pyrnn", description="fast, checked RNN/LSTM/GRU and attention kernels")
    p.add_argument("--debug", action="store_true",
                   help="on an error, show the full traceback instead of one line (also after the command, "
                        "or PYRNN_DEBUG=1)")
    sub = p.add_subparsers(dest="cmd", required=True)

    pi = sub.add_parser("info", help="version, usable backends (and why others are not), BLAS, threads")
    pi.add_argument("--json", action="store_true", help="print as JSON")
    pi.set_defaults(func=_cmd_info)

    pg = sub.add_parser("gradcheck", help="finite-difference check of every layer and op on every backend")
    pg.add_argument("--backend", action="append", type=_backend_name, help="check only this backend (repeatable); default: all usable")
    pg.add_argument("--case", action="append", help="only cases whose name contains this (repeatable)")
    pg.add_argument("--tol", type=_positive_float, default=1e-6, help="pass threshold on the relative error (default 1e-6)")
    pg.add_argument("--seed", type=int, default=0, help="seed of the random inputs and weights (default 0)")
    pg.set_defaults(func=_cmd_gradcheck)

    pb = sub.add_parser("bench", help="pyrnn vs NumPy reference vs PyTorch vs the GEMM limit, in one run")
    pb.add_argument("--op", action="append", choices=["lstm", "gru"], help="op to time (repeatable)")
    pb.add_argument("--mode", action="append", choices=["fwd+bwd", "fwd"], help="mode (repeatable)")
    pb.add_argument("--shape", action="append", type=_shape, metavar="N,T,D,H", help="shape (repeatable)")
    pb.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    pb.add_argument("--repeat", type=_positive_int, default=5, help="timed calls per cell (median is reported)")
    pb.add_argument("--quick", action="store_true", help="tiny shapes, 2 repeats: a smoke run")
    pb.add_argument("--no-reference", action="store_true", help="skip the (slow) NumPy reference")
    pb.add_argument("--no-torch", action="store_true", help="skip PyTorch even when installed")
    pb.add_argument("--backend", type=_backend_name, help="time this backend as pyrnn (e.g. numba); default: the automatic choice")
    for mode, _, help_ in _BENCH_MODES:
        pb.add_argument(f"--{mode}", action="store_true", help=help_)
    pb.add_argument("--json", nargs="?", const=_CPU_JSON, metavar="PATH",
                    help="also write the rows as JSON (default benchmarks/results/cpu.json)")
    pb.set_defaults(func=_cmd_bench)

    pd = sub.add_parser("demo", help="train a model on a built-in task (date, addition, rnnlm, sentiment)",
                        description="Train a model on a built-in task; `pyrnn demo <task> --help` shows the "
                                    "task's defaults and expected run time.")
    tasks = pd.add_subparsers(dest="task", required=True, metavar="task")
    from .demo import TASKS
    for name, task in TASKS.items():
        pt = tasks.add_parser(name, help=task.summary, description=f"{task.summary} {task.details}",
                              epilog=f"defaults take about {task.minutes} on a 2-core machine")
        pt.add_argument("--epochs", type=_positive_int, default=task.epochs,
                        help=f"training epochs (default {task.epochs})")
        pt.add_argument("--hidden", type=_positive_int, default=task.hidden,
                        help=f"hidden size (default {task.hidden})")
        pt.add_argument("--examples", type=_positive_int, default=task.examples, help=task.examples_help)
        if name == "date":
            pt.add_argument("--beam", type=_positive_int, default=task.beam, metavar="K",
                            help="also decode the held-out set by beam search with K beams and report its exact "
                                 "match beside greedy's (default: greedy only)")
            pt.add_argument("--model", choices=["attention", "gnmt"], default="attention",
                            help="attention: the book's attention seq2seq on reversed sources (default); gnmt: a "
                                 "GNMT-style seq2seq (bidirectional first encoder layer, stacked residual LSTMs, "
                                 "attention) on right-padded sources of different lengths")
            pt.add_argument("--layers", type=_positive_int, default=2,
                            help="gnmt: LSTM layers on each side (default 2)")
            pt.add_argument("--dropout", type=_ratio, default=0.0,
                            help="gnmt: dropout between stacked layers, in [0, 1) (default 0)")
        if name == "rnnlm":
            pt.add_argument("--corpus", type=_text_file, help="a local text file (default: the built-in corpus)")
            pt.add_argument("--vocab", type=_vocab_size, default=3000,
                            help="keep the N most frequent words, the rest become <unk> (default 3000; 0: keep all)")
        pt.add_argument("--lr", type=_positive_float, default=task.lr, help=f"Adam learning rate (default {task.lr})")
        pt.add_argument("--seed", type=int, default=0,
                        help="seed of the data, the initial weights, shuffling and dropout: the same seed "
                             "gives the same run (default 0)")
        pt.add_argument("--backend", type=_backend_name, help="force a backend (default: automatic)")
        pt.add_argument("--out", type=_out_dir, default="pyrnn-demo-out",
                        help="folder for plots (default ./pyrnn-demo-out)")
        pt.add_argument("--no-progress", action="store_true",
                        help="no progress bars (they are shown only when stderr is a terminal)")
        pt.set_defaults(func=_cmd_demo)

    # --debug also after the command (`pyrnn demo rnnlm --debug`): the subcommands pass it up unparsed
    args, extra = p.parse_known_args(argv)
    debug = args.debug or "--debug" in extra or os.environ.get("PYRNN_DEBUG", "").strip() not in ("", "0")
    extra = [a for a in extra if a != "--debug"]
    if extra:
        p.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except _expected_errors() as e:  # what a user's files, options or machine cause: one line, no traceback
        if debug:
            raise
        print(f"pyrnn {args.cmd}: error: {_one_line(e)}", file=sys.stderr)
        return 1


def _expected_errors():
    from ..backends import BackendUnavailable

    # OSError: a file missing, unreadable or a folder; ValueError: a file that is not what the command
    # reads (pyrnn.datasets says which), data too short for the settings; BackendUnavailable: a forced
    # backend that cannot run here
    return (CommandError, OSError, EOFError, ValueError, BackendUnavailable)


def _one_line(e) -> str:
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        msg = f"{e.filename}: {e.strerror}"
    else:
        msg = " ".join(str(e).split()) or type(e).__name__
    return msg + " (--debug or PYRNN_DEBUG=1 shows the traceback)"


if __name__ == "__main__":
    sys.exit(main())
