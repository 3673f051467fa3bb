"""The trainer worker (`riskstream run trainer`): retrain-requests → MLflow → model-versions.

Guarantee: exactly one outcome (promoted, challenger, skipped, rejected or failed) per request
batch on `model-versions`: the outcome, any dead letters and the requests' offsets commit in
one Kafka transaction. The MLflow registration is outside it, so a trainer killed after
registering and before committing trains the batch again and registers another version (at
least once in the registry, and in the REGISTERED announcements, which are hints for the
scorers to load a version early). One training runs at a time, in a training process of its
own (``retrain_run.py``); requests that arrive meanwhile are merged into the next run, and
the merge is logged. The background search after a refit is at most once: its outcome
commits in a transaction of its own when it finishes, and a trainer that stops first
abandons it.

With ``RISKSTREAM_PROMOTION_EVIDENCE=live`` a version that passes the holdout becomes the
challenger instead, and the referee thread (`referee.py`) promotes or rejects it on live
labels. Its decisions are at least once: it publishes the event before it writes the
registry, so a crash between the two leaves the challenger alias, and the next look decides
again from the same evidence. After any promotion, the canary thread (`canary.py`) watches
the new champion against the previous one, scored in shadow, and rolls it back if the
previous one proves better on live labels (same guarantee).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import Message

from riskstream.core.memory import release_free_memory
from riskstream.core.topics import DEAD_LETTER, MODEL_VERSIONS, RETRAIN_REQUESTS
from riskstream.core.worker_slices import MonitoringSettings
from riskstream.io.kafka.clients import publish_events
from riskstream.io.kafka.contract import Batch, Cadence, Output
from riskstream.io.kafka.dead_letter import dead_letter
from riskstream.io.kafka.runtime import TransactionalRuntime
from riskstream.io.ops import WorkerMetrics
from riskstream.models.registry_process import RegistryProcess
from riskstream.schemas import CodecError
from riskstream.schemas.events import DeadLetter, ModelVersionEvent, RetrainRequest
from riskstream.stream_processors.canary import CanaryWatch
from riskstream.stream_processors.referee import LiveReferee
from riskstream.stream_processors.retrain_data import MergedRequest
from riskstream.stream_processors.retrain_run import Retrainer

__all__ = ["GROUP", "MergedRequest", "Trainer"]

log = logging.getLogger(__name__)
PROCESSOR = "trainer"
GROUP = "riskstream-trainer"


class Trainer:
    """Consumes retrain requests and turns each (merged) batch into one training outcome."""

    def __init__(
        self, settings: MonitoringSettings, *, seed: int = 0, max_runs: int | None = None
    ) -> None:
        self.settings = settings
        self.seed = seed
        self.max_runs = max_runs  # exit after this many training runs (None: never)
        self.registry = RegistryProcess(settings)  # MLflow in a child: see its module
        self.metrics = WorkerMetrics("trainer", stall_s=900.0)  # a training may take minutes
        self.runtime = TransactionalRuntime(
            settings,
            GROUP,
            "0",
            [RETRAIN_REQUESTS.name],
            self.metrics,
            # ticks: a background search's outcome goes out when no request comes
            cadence=Cadence(size=500, wait_s=1.0, linger_s=0.2),
            consumer_config={"max.poll.interval.ms": 900_000},  # a training may take minutes
        )
        self.codec = self.runtime.codec
        self.retrainer = Retrainer(settings, self.registry, self._announce, seed=seed)
        self.runs = 0
        self.last_outcome: ModelVersionEvent | None = None
        self.search_outcomes: list[ModelVersionEvent] = []  # of background searches, committed

    def run(self, stop: threading.Event | None = None, max_runs: int | None = None) -> None:
        stop = stop or threading.Event()
        limit = max_runs if max_runs is not None else self.max_runs
        if limit is not None and self.runs >= limit:
            return
        # the registry's process starts now, and the store's first open is slow: both before
        # any request waits on them
        self.registry.open()
        self.runtime.start()
        self.retrainer.start(stop)
        helpers_stop = threading.Event()  # set when the loop ends, however it ends
        helpers = self._start_helpers(helpers_stop)

        try:
            self.runtime.run(_Limited(self, stop, limit), stop)
        finally:
            helpers_stop.set()
            for helper in helpers:
                helper.join(30)
            self.retrainer.stop()
            self.registry.stop()

    def _start_helpers(self, stop: threading.Event) -> list[threading.Thread]:
        """The referee and the canary, each on its own thread, asking the trainer's registry
        process; with manual promotion a person decides (`riskstream model evidence` shows
        what the referee would weigh)."""
        runs: list[tuple[str, Callable[[threading.Event], None]]] = []
        if self.settings.promotion_evidence == "live" and self.settings.promotion == "auto":
            runs.append(("referee", LiveReferee(self.settings, self.registry).run))
        if self.settings.canary_windows > 0:
            runs.append(("canary", CanaryWatch(self.settings, self.registry).run))
        helpers = [threading.Thread(target=r, args=(stop,), name=n, daemon=True) for n, r in runs]
        for helper in helpers:
            helper.start()
        return helpers

    def tick(self) -> Batch | None:
        """With no request: the outcomes of background searches that finished go out, in a
        transaction of their own."""
        searched = self.retrainer.finished_searches()
        if not searched:
            return None
        key = self.settings.model_name.encode()

        def searched_done() -> None:
            self.search_outcomes += searched
            for event in searched:
                log.info("trainer: search %s %s: %s", event.status, event.version, event.reason)

        announced: list[Output[Any]] = [Output(MODEL_VERSIONS, key, e) for e in searched]
        return Batch(announced, after_commit=searched_done)

    def process(self, messages: list[Message]) -> Batch | None:
        """Merge the batch's requests into one training run; its outcome goes out with the
        requests' offsets."""
        self.metrics.records_in.inc(len(messages))
        merged, letters = self._merge(messages)
        outputs: list[Output[Any]] = [Output(DEAD_LETTER, d.original_key, d) for d in letters]
        if merged is None:
            return Batch(outputs)
        outcome = self.handle(merged)
        outputs.append(Output(MODEL_VERSIONS, self.settings.model_name.encode(), outcome))

        def done() -> None:
            self.runs += 1
            self.last_outcome = outcome
            log.info("trainer: %s %s — %s", outcome.status, outcome.version or "", outcome.reason)

        return Batch(outputs, after_commit=done)

    def _merge(self, messages: list[Message]) -> tuple[MergedRequest | None, list[DeadLetter]]:
        merged = MergedRequest()
        letters = []
        for message in messages:
            try:
                request = self.codec.decode_event(message.value(), RetrainRequest)
            except CodecError as exc:
                letters.append(dead_letter(message, PROCESSOR, exc.reason, exc.message))
                continue
            if request.model_name != self.settings.model_name:
                letters.append(
                    dead_letter(message, PROCESSOR, "wrong_model", "request names another model")
                )
                continue
            merged.add(request)
        if not merged.retrain_ids:
            return None, letters
        if len(merged.retrain_ids) > 1:
            log.info(
                "trainer: merged %d retrain requests into one run: %s",
                len(merged.retrain_ids),
                ",".join(merged.retrain_ids),
            )
        return merged, letters

    # -- one training run -----------------------------------------------------------------

    def handle(self, request: MergedRequest) -> ModelVersionEvent:
        """Train, register and decide: the one ModelVersionEvent of this request batch."""
        log.info(
            "trainer: training for %s (%s)", ",".join(request.retrain_ids), request.reason_text()
        )
        try:
            event = self.retrainer.retrain(request, self.codec)
        except Exception as exc:  # reported, never lost: the request's outcome is FAILED
            log.exception("trainer: training failed for %s", ",".join(request.retrain_ids))
            event = ModelVersionEvent.announce(
                self.settings.model_name,
                "FAILED",
                reason=f"training failed: {type(exc).__name__}: {str(exc)[:300]}",
                lineage={
                    "retrain_ids": ",".join(request.retrain_ids),
                    "training_reason": request.reason_text(),
                },
            )
        release_free_memory()  # the examples and frames are gone; give their pages back
        return event

    def _announce(self, event: ModelVersionEvent) -> None:
        """A REGISTERED version, at once and outside the request's transaction: the scorers
        load it while it is judged. Best effort: a scorer that missed it loads the version
        when it is promoted."""
        try:
            publish_events(
                self.settings, MODEL_VERSIONS.name, [(self.settings.model_name.encode(), event)]
            )
        except Exception as exc:
            log.warning("trainer: could not announce version %s (%s)", event.version, exc)


class _Limited:
    """The trainer, told to stop once the batch that makes its ``limit``-th run is handed out
    (that batch still commits: the loop ends after it)."""

    def __init__(self, trainer: Trainer, stop: threading.Event, limit: int | None) -> None:
        self.trainer, self.stop, self.limit = trainer, stop, limit

    def process(self, messages: list[Message]) -> Batch | None:
        batch = self.trainer.process(messages)
        if batch is not None and self.limit is not None and self.trainer.runs + 1 >= self.limit:
            self.stop.set()
        return batch

    def tick(self) -> Batch | None:
        return self.trainer.tick()
