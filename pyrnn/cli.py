"""The `pyrnn` command (also `python -m pyrnn`): info, gradcheck, bench, demo."""
from __future__ import annotations

import argparse
import json
import os
import sys


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
    from . import backends

    names = requested or [n for n in backends.NUMPY_ORDER if backends.backend_status()[n][0]]
    for n in names:
        backends.get(n)  # raises BackendUnavailable with the reason
    return names


def _cmd_gradcheck(args) -> int:
    from . import backends
    from .check import gradcheck
    from .check.cases import CASES, build

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


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {v}")
    return v


def _vocab_size(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 0 (keep all) or an integer >= 2, got {text!r}") from None
    if v != 0 and v < 2:
        raise argparse.ArgumentTypeError(f"expected 0 (keep all) or an integer >= 2, got {v}")
    return v


def _positive_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (v > 0 and v != float("inf")):  # also rejects nan
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return v


def _backend_name(text):
    from .backends import _MODULES

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


_CPU_JSON = "benchmarks/results/cpu.json"


def _cmd_bench(args) -> int:
    _tune_malloc()
    import numpy as np

    from . import bench

    if args.attention:
        from . import bench_attention
        return bench_attention.cli(args)
    if args.gpu:
        from . import bench_gpu
        if args.json == _CPU_JSON:  # bare --json: the GPU bench's own default path
            args.json = None
        return bench_gpu.cli(args)
    shapes = args.shape or (bench.QUICK_SHAPES if args.quick else bench.SHAPES)
    print(f"pyrnn bench: median ms per call, ratios = other / pyrnn (>1: pyrnn faster), "
          f"% GEMM = time of one GEMM with the same multiply-adds / pyrnn time, "
          f"1st ms = pyrnn's first (untimed) call: with numba it includes JIT compile or cache load")
    print(bench.HEADER, flush=True)
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
    (keep freed scratch in the heap; see cpp/bindings/cpu_module.cpp) before it loads."""
    os.environ.setdefault("PYRNN_MALLOC_TUNE", "1")


def _cmd_demo(args) -> int:
    _tune_malloc()
    from . import demo

    return demo.run(args)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="pyrnn", description="fast, checked RNN/LSTM/GRU and attention kernels")
    sub = p.add_subparsers(dest="cmd", required=True)

    pi = sub.add_parser("info", help="version, usable backends (and why others are not), BLAS, threads")
    pi.add_argument("--json", action="store_true", help="print as JSON")
    pi.set_defaults(func=_cmd_info)

    pg = sub.add_parser("gradcheck", help="finite-difference check of every layer and op on every backend")
    pg.add_argument("--backend", action="append", type=_backend_name, help="check only this backend (repeatable); default: all usable")
    pg.add_argument("--case", action="append", help="only cases whose name contains this (repeatable)")
    pg.add_argument("--tol", type=_positive_float, default=1e-6, help="pass threshold on the relative error (default 1e-6)")
    pg.add_argument("--seed", type=int, default=0)
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
    pb.add_argument("--attention", action="store_true",
                    help="time attention instead: TimeAttention vs the book's per-step NumPy, SDPA vs PyTorch")
    pb.add_argument("--gpu", action="store_true",
                    help="time pyrnn on CuPy arrays (the CUDA backend) against PyTorch's cuDNN LSTM/GRU, "
                         "fwd+bwd float32; writes benchmarks/results/gpu-<device>.json")
    pb.add_argument("--json", nargs="?", const=_CPU_JSON, metavar="PATH",
                    help="also write the rows as JSON (default benchmarks/results/cpu.json)")
    pb.set_defaults(func=_cmd_bench)

    pd = sub.add_parser("demo", help="train a model on a built-in task (date, addition, rnnlm, sentiment)")
    pd.add_argument("task", choices=["date", "addition", "rnnlm", "sentiment"])
    pd.add_argument("--epochs", type=_positive_int, help="training epochs (default: per task; date 3)")
    pd.add_argument("--hidden", type=_positive_int, help="hidden size (default: per task; date 256)")
    pd.add_argument("--examples", type=_positive_int, help="training examples (date, addition: 45000; sentiment: 10000; rnnlm: corpus tokens, default all)")
    pd.add_argument("--corpus", type=_text_file, help="rnnlm: a local text file (default: the built-in corpus)")
    pd.add_argument("--vocab", type=_vocab_size, default=3000,
                    help="rnnlm: keep the N most frequent words, the rest become <unk> (default 3000; 0: keep all)")
    pd.add_argument("--lr", type=_positive_float, help="Adam learning rate (default: per task)")
    pd.add_argument("--seed", type=int, default=0)
    pd.add_argument("--backend", type=_backend_name, help="force a backend (default: automatic)")
    pd.add_argument("--out", type=_out_dir, default="pyrnn-demo-out", help="folder for plots (default ./pyrnn-demo-out)")
    pd.add_argument("--no-progress", action="store_true", help="no progress bars")
    pd.set_defaults(func=_cmd_demo)

    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
