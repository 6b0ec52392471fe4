"""Benchmark of the study file reader and writer at the limits (rounds.studyfile).

    python -m benchmarks.study_file [--items 5000] [--runs 3]

A study file with ITEMS items in three languages (5000 is the limit; the file is then
close to the 2 MB upload limit) is written (`yamlio.dump`), then read the way an upload or
`delphi_study create` reads it (`read_study_file`: YAML with the line of every field, the
JSON Schema, the checks of meaning, the normal form and the design hash). The floor is
PyYAML's fastest plain load of the same bytes (libyaml, `CSafeLoader`), which gives data
without lines, checks or hash. Prints the median of the runs. Needs no database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

LANGUAGES = ("fr", "nl", "en")


def document(items: int) -> dict[str, Any]:
    return {
        "format_version": 1,
        "study": {
            "slug": "benchmark",
            "title": {code: f"Benchmark ({code})" for code in LANGUAGES},
            "languages": list(LANGUAGES),
            "report_language": "en",
        },
        "criteria": [
            {
                "code": code,
                "name": {lang: code.title() for lang in LANGUAGES},
                "scale": {"min": 1, "max": 9},
            }
            for code in ("acceptability", "priority")
        ],
        "items": [
            {
                "code": f"A{i:04d}",
                "domain": {code: f"Domain {i % 12} ({code})" for code in LANGUAGES},
                "text": {
                    code: f"Action item {i}, in a sentence of an ordinary length ({code})"
                    for code in LANGUAGES
                },
                "derived_from": [f"A{i - 1:04d}"] if i % 10 == 9 else [],
                "metadata": {"stage": i % 3},
            }
            for i in range(items)
        ],
    }


def _median(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "delphi.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    import django

    django.setup()
    import yaml

    from rounds.studyfile.reader import read_study_file
    from rounds.studyfile.yamlio import dump

    doc = document(args.items)
    data = dump(doc, []).encode()
    write = _median(lambda: dump(doc, []), args.runs)
    read = _median(lambda: read_study_file(data), args.runs)
    floor = _median(lambda: yaml.load(data, Loader=yaml.CSafeLoader), args.runs)
    print(f"study file: {args.items} items, {len(data) / 1e6:.2f} MB")
    print(f"write (yamlio.dump)             {write:7.2f} s")
    print(f"read (read_study_file)          {read:7.2f} s")
    print(f"floor: PyYAML CSafeLoader load  {floor:7.2f} s   ratio {read / floor:.2f}")


if __name__ == "__main__":
    main()
