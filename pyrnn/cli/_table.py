"""What the `pyrnn bench` programs share around their tables: the cells that show '-' for a value
not measured, the loop step that keeps a row and prints its line, the load-average line, and the
--json file. Each program keeps its own HEADER and format_row: only these pieces are common."""
from __future__ import annotations

import json
import os

# the value of a bare --json: the CPU bench's file; the other benches write their own file beside it
CPU_JSON = "benchmarks/results/cpu.json"


def cell(value, spec: str, width: int) -> str:
    """value formatted by spec (a format spec `width` characters wide, e.g. "9.2f" for 9), or '-'
    right-aligned in `width` where value is None (not measured)."""
    return f"{value:{spec}}" if value is not None else f"{'-':>{width}}"


def ratio_cell(value, width: int) -> str:
    """A ratio with two decimals and an 'x' ("   2.17x"), `width` characters in all; '-' where None."""
    return f"{value:{width - 1}.2f}x" if value is not None else f"{'-':>{width}}"


def keep(rows: list, row, progress, format_row) -> None:
    """Append row to rows and hand its line to progress (None: print nothing)."""
    rows.append(row)
    if progress:
        progress(format_row(row))


def print_line(line: str) -> None:
    """The benches' progress callback: each row's line as soon as it is measured."""
    print(line, flush=True)


def print_load_average(prefix: str = "  load average ", suffix: str = "") -> None:
    """`<prefix>0.52 0.40 0.33, 2 CPUs<suffix>`: a busy machine moves the figures, so the benches say
    how busy it was; nothing where the platform has no load average."""
    try:
        avg = " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return
    print(f"{prefix}{avg}, {os.cpu_count()} CPUs{suffix}")


def json_path(arg: str, name: str) -> str:
    """--json's path: the one given, or benchmarks/results/<name>.json for a bare --json."""
    return arg if arg != CPU_JSON else f"benchmarks/results/{name}.json"


def write_json(path: str, payload: dict) -> None:
    """payload as JSON (indent 2) at path, creating its folder."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)


def write_rows(arg: str, name: str, environment: dict, rows: list) -> None:
    """The --json file of a bench (see json_path): {"environment": ..., "rows": [...]}, then `wrote <path>`."""
    path = json_path(arg, name)
    write_json(path, {"environment": environment, "rows": rows})
    print(f"wrote {path}")
