"""The soak's reading of a worker's child processes: which they are, their peaks, and
whether one is still working (the trainer's background search)."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.soak import _children_busy, child_peaks, child_processes


def test_children_are_found_with_their_peaks_and_an_idle_one_is_not_busy() -> None:
    # a child read between fork and exec has no memory map yet (VmHWM 0): it says when it runs
    code = "import time; print('up', flush=True); time.sleep(30)"
    idle = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert idle.stdout is not None and idle.stdout.readline() == "up\n"
        assert idle.pid in child_processes(os.getpid())
        peaks = child_peaks({"tester": os.getpid(), "none": idle.pid})
        assert set(peaks) == {"tester_children"}  # the child has none of its own
        assert peaks["tester_children"] > 0
        assert not _children_busy(os.getpid(), window_s=1.0)
    finally:
        idle.kill()
        idle.wait()


def test_a_child_that_computes_is_busy() -> None:
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert _children_busy(os.getpid(), window_s=1.0)
    finally:
        spin.kill()
        spin.wait()
