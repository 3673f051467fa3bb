"""The backtest's ground truth, read by a forked child while the parent reads the records.

The two topics are independent and each read is decoding-bound Python (about 7 us a record
in fastavro), so on two cores a second process cuts the wait where a thread would share the
GIL. The child is forked before the parent opens its consumer, starts only clients of its
own, and sends back one dict. Where fork is not available, or the child fails or hangs, the
labels are read in this process: slower, never wrong.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection

from riskstream.core.topics import GROUND_TRUTH
from riskstream.core.worker_slices import ChampionSettings
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.reading import Start, messages
from riskstream.schemas import CodecError

log = logging.getLogger(__name__)
CHILD_TIMEOUT_S = 600.0  # a million labels take about 10 s on a quiet 2-core machine


def all_outcomes(settings: ChampionSettings, start: Start) -> dict[str, int]:
    """The ground truth of every request id, from ``start`` to the topic's end."""
    codec = codec_for(settings)
    outcomes: dict[str, int] = {}
    for m in messages(settings, settings.topic(GROUND_TRUTH.name), start, None):
        try:
            truth = codec.decode(m.value(), "GroundTruth", times_as_ms=True)
        except CodecError:
            continue
        outcomes[truth["request_id"]] = int(truth["outcome"])
    return outcomes


@contextlib.contextmanager
def labels_read_beside(
    settings: ChampionSettings, start: Start
) -> Iterator[Callable[[], dict[str, int]]]:
    """A function that returns every request id's outcome from ``start`` on, read by a
    child process from the moment the context opens."""

    def here() -> dict[str, int]:
        return all_outcomes(settings, start)

    if "fork" not in multiprocessing.get_all_start_methods():
        yield here
        return
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(sending, settings, start), daemon=True)
    child.start()
    sending.close()

    def waited() -> dict[str, int]:
        try:
            if receiving.poll(CHILD_TIMEOUT_S):
                kind, payload = receiving.recv()
                if kind == "ok":
                    return dict(payload)
                reason = str(payload)
            else:
                reason = f"no answer in {CHILD_TIMEOUT_S:.0f} s"
        except (EOFError, OSError) as exc:  # it died before it answered
            reason = type(exc).__name__
        log.warning("backtest: the labels' reader process failed (%s); reading here", reason)
        return here()

    try:
        yield waited
    finally:
        receiving.close()
        if child.is_alive():
            child.terminate()
        child.join(5)


def _child(sending: Connection, settings: ChampionSettings, start: Start) -> None:
    try:
        sending.send(("ok", all_outcomes(settings, start)))
    except Exception as exc:  # told to the parent, which reads the labels itself
        sending.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        sending.close()
