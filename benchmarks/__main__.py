"""Every benchmark in one command: one table of figure, floor and ratio, and a JSON file.

    python -m benchmarks [--scale small|full] [--runs 3] [--only close,invitations,...]
                         [--json benchmarks.json]

Each benchmark measures our figure and, in the same run, its floor (the least the machine
can do for the same result: one bincount, a COPY to /dev/null, a trivial view, a plain
smtplib loop, WeasyPrint alone on the same HTML). The runs are interleaved (every benchmark
once, then again), and the table shows the median of the runs for each figure and for each
ratio. `--scale full` is the size of the targets (1M ratings, 10,000 invitations, 200
report sheets, 50 panelists saving at once); `small` runs in a few minutes.

The peer's figures (django-survey-and-report 1.5.0, measured on the same 2-core machine)
are printed for reference; they are published figures, not measured here.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT

PEER = [
    ("peer: a 60-answer submit, queries", "252 queries"),
    ("peer: submits at 50 clients on PostgreSQL", "5.8 responses/s"),
    ("peer: CSV export of 300,000 answers", "167 s, 305,002 queries"),
]


@dataclass
class Figure:
    """One measured figure against its floor; `target` is the ratio (or value) to meet."""

    benchmark: str
    name: str
    value: float
    unit: str
    floor_name: str = ""
    floor: float | None = None
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.floor if self.floor else None


BENCHMARKS = (
    "engine",
    "close",
    "save",
    "export",
    "invitations",
    "large",
    "report",
    "realtime",
    "live_fetch",
)


def run_one(name: str, scale: str) -> list[Figure]:
    """One benchmark in a fresh interpreter (each sets Django up on its own database)."""
    code = (
        "import json, sys; from dataclasses import asdict; "
        f"from benchmarks.{_module(name)} import figures; "
        f"print('@@' + json.dumps([asdict(f) for f in figures({scale!r})]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("@@")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-4000:])
        raise SystemExit(f"benchmark {name} failed (exit {done.returncode})")
    return [Figure(**item) for item in json.loads(lines[-1][2:])]


def _module(name: str) -> str:
    return {"save": "save_step"}.get(name, name)


def median_figures(runs: list[list[Figure]]) -> list[Figure]:
    by_name: dict[tuple[str, str], list[Figure]] = {}
    for run in runs:
        for figure in run:
            by_name.setdefault((figure.benchmark, figure.name), []).append(figure)
    out = []
    for found in by_name.values():
        first = found[0]
        value = statistics.median(f.value for f in found)
        floors = [f.floor for f in found if f.floor]
        ratios = [f.ratio for f in found if f.ratio is not None]
        figure = Figure(**{**asdict(first), "value": value})
        if floors:
            # The floor shown is the median floor; the ratio is the median of the ratios of
            # each run (each measured against its own floor, in the same process).
            figure.floor = statistics.median(floors)
            figure.met = _met(first.target, statistics.median(ratios)) if ratios else first.met
        out.append(figure)
    return out


def _met(target: str, ratio: float) -> bool | None:
    if target.startswith("<="):
        return ratio <= float(target[2:].strip().rstrip("x×"))
    return None


def print_table(figures: list[Figure], runs: int) -> None:
    print(f"\n{'benchmark':<12} {'figure':<46} {'ours':>12} {'floor':>12} {'ratio':>7}  target")
    for f in figures:
        ratio = f"{f.ratio:.2f}" if f.ratio is not None else ""
        floor = f"{f.floor:.4g} {f.unit}" if f.floor else ""
        met = {True: " met", False: " MISSED", None: ""}[f.met]
        print(
            f"{f.benchmark:<12} {f.name:<46} {f.value:>9.4g} {f.unit:<3}{floor:>12} "
            f"{ratio:>7}  {f.target}{met}"
        )
    print(f"\n(medians of {runs} interleaved runs; floors: " + "; ".join(
        sorted({f"{f.benchmark}: {f.floor_name}" for f in figures if f.floor_name})
    ) + ")")  # fmt: skip
    for name, value in PEER:
        print(f"{name:<60} {value}")


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "load": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--scale", choices=["small", "full"], default="small")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks.json")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise SystemExit(f"unknown benchmarks: {', '.join(unknown)}; choose from {BENCHMARKS}")
    for name in names:
        importlib.import_module(f"benchmarks.{_module(name)}")  # fail early on a typo
    runs: list[list[Figure]] = []
    for number in range(args.runs):
        run: list[Figure] = []
        for name in names:
            print(f"run {number + 1}/{args.runs}: {name}...", file=sys.stderr, flush=True)
            run += run_one(name, args.scale)
        runs.append(run)
    figures = median_figures(runs)
    print_table(figures, args.runs)
    payload = {
        "scale": args.scale,
        "runs": [[asdict(f) for f in run] for run in runs],
        "medians": [{**asdict(f), "ratio": f.ratio} for f in figures],
        "machine": machine(),
        "peer": dict(PEER),
    }
    args.json.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    print(f"\nwritten: {args.json}")


if __name__ == "__main__":
    main()
