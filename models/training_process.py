"""Training in a process of its own, never a thread of the worker that asks for it.

A fit is pure CPU work in scikit-learn, xgboost and river: in a thread it would hold the
interpreter that the trainer's Kafka loop (and, in `riskstream demo`, every other worker)
needs. Each :class:`TrainingProcess` keeps one warm child process (spawned, so it is safe to
start from a threaded program), whose imports are paid once when it starts, not at the first
drift. The background search runs in a second one, at a lower CPU priority, so a refit never
waits behind it.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from riskstream.core.errors import RiskstreamError

log = logging.getLogger(__name__)
T = TypeVar("T")
PR_SET_PDEATHSIG = 1  # prctl(2): the signal the child gets when its parent dies


class TrainingProcessError(RiskstreamError):
    """The training process died (killed, or out of memory) before it answered."""


def warm_training() -> None:
    """Import what a fit needs, so the first request pays nothing for it."""
    import riskstream.models.training  # noqa: F401


def _child_setup(nice: int, parent: int) -> None:
    """In the child: end with the worker (a trainer killed with SIGKILL must not leave a
    search holding a core or waiting on its queue for ever), and lower the priority of
    background work. PR_SET_PDEATHSIG ties the child to the thread that started it, and is
    lost if that thread ended first, so a watch on the parent process backs it up."""
    with contextlib.suppress(OSError, AttributeError):  # Linux only
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    threading.Thread(target=_end_with, args=(parent,), daemon=True).start()
    if nice:
        os.nice(nice)


def _end_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


class TrainingProcess:
    """One child process that runs fits; started by :meth:`start`, stopped by :meth:`stop`."""

    def __init__(
        self, name: str, *, nice: int = 0, warm: Callable[[], None] = warm_training
    ) -> None:
        self.name = name
        self.nice = nice
        self.warm = warm  # run in the child as it starts (a module-level function)
        self._pool: ProcessPoolExecutor | None = None
        self._pid: Future[int] | None = None

    def start(self) -> TrainingProcess:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_child_setup,
                initargs=(self.nice, os.getpid()),
            )
            self._pool.submit(self.warm)
            self._pid = self._pool.submit(os.getpid)
        return self

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        """Run ``fn(*args, **kwargs)`` in the child (both must pickle)."""
        self.start()
        assert self._pool is not None
        try:
            return self._pool.submit(fn, *args, **kwargs)
        except BrokenProcessPool:
            self._restart()
            assert self._pool is not None
            return self._pool.submit(fn, *args, **kwargs)

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in the child, waited for; a child that died is replaced
        and the call fails with :class:`TrainingProcessError`."""
        future = self.submit(fn, *args, **kwargs)
        try:
            return future.result()
        except BrokenProcessPool:
            self._restart()
            raise TrainingProcessError(
                "the training process died before it answered",
                process=self.name,
                hint="was it killed, or out of memory? the next request starts a new one",
            ) from None

    def _restart(self) -> None:
        log.warning("training process %s died; starting a new one", self.name)
        self.stop()
        self.start()

    def stop(self) -> None:
        """Stop the child at once, abandoning a fit still running (its result is not
        wanted): a search may take a minute, and a stopping worker must not wait for it."""
        pool, self._pool = self._pool, None
        pid, self._pid = self._pid, None
        if pool is None:
            return
        child = None
        with contextlib.suppress(Exception):  # a child still starting says who it is first
            child = pid.result(timeout=10) if pid is not None else None
        pool.shutdown(wait=False, cancel_futures=True)
        if child is not None:
            with contextlib.suppress(ProcessLookupError):  # it had ended
                os.kill(child, signal.SIGTERM)
