"""Rare garbage collections while a report is laid out: the thresholds are raised inside,
restored by the last user to leave (nested, concurrent, or after an error), and the
cyclic garbage made inside is freed on the way out."""

from __future__ import annotations

import gc
import json
import re
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import pytest

from reports.collector import YOUNG_THRESHOLD, rare_collections
from reports.parts import numbers_css


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


@pytest.fixture(autouse=True)
def _default_thresholds() -> None:
    assert gc.get_threshold()[0] != YOUNG_THRESHOLD


def test_raised_inside_and_restored_after() -> None:
    before = gc.get_threshold()
    with rare_collections():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, before[1], before[2])
    assert gc.get_threshold() == before


def test_a_nested_use_does_not_restore_under_the_outer_one() -> None:
    before = gc.get_threshold()
    with rare_collections():
        with rare_collections():
            pass
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_threshold() == before


def test_an_error_inside_restores_the_thresholds() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), rare_collections():
        raise RuntimeError("layout failed")
    assert gc.get_threshold() == before


def test_two_threads_restore_once_the_last_leaves() -> None:
    before = gc.get_threshold()
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with rare_collections():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    with rare_collections():
        thread.start()
        assert inside.wait(10)
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD  # the other thread is still inside
    release.set()
    thread.join(10)
    assert gc.get_threshold() == before


def test_cyclic_garbage_made_inside_is_freed_on_the_way_out() -> None:
    with rare_collections():
        node = _Node()
        ref = weakref.ref(node)
        del node
        assert ref() is not None  # a cycle: reference counting alone keeps it
    assert ref() is None


@pytest.mark.slow
def test_a_layout_worker_stamps_the_numbers_it_is_sent_and_exits_cleanly(
    tmp_path: Path,
) -> None:
    """The worker answers with its page counts and anchors, writes its parts, stamps the
    page numbers it is sent after that, and exits with 0 without tearing its documents
    down (it leaves through os._exit once its last answer is flushed)."""
    css = "@page { size: A6; @bottom-right { content: 'x' } } p { break-after: page }"
    (tmp_path / "report.css").write_text(css)
    (tmp_path / "part-01.html").write_text("<p id='a'>one</p><p id='b'>two</p>")
    spec = {"folder": str(tmp_path), "stylesheet": str(tmp_path / "report.css"),
            "options": {}, "parts": ["part-01"], "numbers_css": numbers_css(css)}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "reports.layout_worker"], text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(spec) + "\n")
    proc.stdin.flush()
    found = json.loads(proc.stdout.readline())
    assert found == {"part-01": {"pages": 2, "anchors": {"a": 0, "b": 1}}}
    proc.stdin.write(json.dumps({"part-01": [5, 9]}) + "\n")
    proc.stdin.flush()
    assert json.loads(proc.stdout.readline()) == {"done": ["part-01"]}
    assert proc.wait(timeout=30) == 0
    done = subprocess.run(["pdftotext", str(tmp_path / "part-01.pdf"), "-"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert re.findall(r"(\d) ?/ ?9", done.stdout) == ["5", "6"]
