"""A worker's current champion model, swapped between batches when `champion` moves (the
scorer scores with it; the drift monitor bins over its reference), and for the scorer the
`challenger` it scores in shadow, while one exists.

A background thread follows `model-versions`; a champion change is loaded there, off the hot
path, and only a model that loaded and passed its self-check replaces the old one. The scorer
reads ``current`` (and ``challenger``) once per batch, so a batch's served predictions never
mix two champion versions.

A version is loaded and self-checked when the trainer announces it REGISTERED, before any
decision on it: its promotion is then a pointer move, served from the next batch.

What is loaded is the holder's ``load``: the scorer's holder loads whole models
(:func:`whole_model`); the drift monitor's only their drift references
(:func:`reference_only`), so it never imports the estimators' libraries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from confluent_kafka import OFFSET_END, KafkaException, Message, TopicPartition

from riskstream.core.recent import recent_list
from riskstream.core.slices import ClusterSettings
from riskstream.core.topics import MODEL_VERSIONS
from riskstream.io.kafka.at_least_once import AssignedSource, AtLeastOnceRuntime
from riskstream.io.kafka.contract import Cadence
from riskstream.io.kafka.factory import reader
from riskstream.io.ops import WorkerMetrics
from riskstream.models.bundle import ModelLoadError, ScoringModel
from riskstream.models.registry_reader import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    RegistryError,
    RegistryReader,
    VersionReference,
)
from riskstream.schemas import AvroCodec, CodecError
from riskstream.schemas.events import ModelVersionEvent

log = logging.getLogger(__name__)
CHAMPION_MOVES = frozenset({"PROMOTED", "ROLLED_BACK"})
LOADED_KEPT = 4  # loaded versions kept in memory: champion, challenger or previous, prepared

if TYPE_CHECKING:
    from riskstream.models.reference import DriftReference


class Loaded(Protocol):
    """What a holder keeps of a version."""

    @property
    def version(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def reference(self) -> DriftReference: ...


M = TypeVar("M", bound=Loaded)


def whole_model(registry: RegistryReader, version: str) -> ScoringModel:
    return registry.load(version)


def reference_only(registry: RegistryReader, version: str) -> VersionReference:
    return registry.version_reference(version)


class ModelHolder(Generic[M]):
    def __init__(
        self,
        settings: ClusterSettings,
        codec: AvroCodec,
        load: Callable[[RegistryReader, str], M],
        on_load_failure: Callable[[str, str], None] | None = None,
        worker: str = "scorer",
        with_challenger: bool = False,
    ) -> None:
        self.settings = settings
        self.codec = codec
        self.worker = worker
        self.registry = RegistryReader(settings)
        self._load_version = load
        self._current: M | None = None
        self._challenger: M | None = None
        self._challenger_serves = False
        self.with_challenger = with_challenger
        self._follow_from: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_load_failure = on_load_failure or (lambda version, reason: None)
        self.swaps = 0
        self.load_failures = 0
        self.serving_since: dict[str, float] = {}  # version → wall time it began serving
        self.prepared: deque[str] = recent_list()  # versions loaded ahead of a decision
        self._loaded: dict[str, M] = {}  # version → its loaded, checked model

    @property
    def current(self) -> M | None:
        with self._lock:
            return self._current

    @property
    def challenger(self) -> M | None:
        """The version scored beside the champion (see :meth:`shadow`), or None."""
        return self.shadow()[0]

    def shadow(self) -> tuple[M | None, bool]:
        """(the version scored beside the champion, whether it may serve the split's share):
        the `challenger`, or while a promotion is watched the `previous` champion, which only
        ever scores in shadow. Read together, once per batch."""
        with self._lock:
            return self._challenger, self._challenger_serves

    def refresh_challenger(self, known: dict[str, str | None] | None = None) -> None:
        """Follow the registry's `challenger` alias, else its `previous` one (``known``: the
        aliases, already read): load the version when it is new, drop it when the alias is
        gone or names the champion. A version that fails to load is not scored (the failure
        is reported like a champion's)."""
        if not self.with_challenger:
            return
        aliases = known
        if aliases is None:
            try:
                aliases = self.registry.alias_versions(CHALLENGER, PREVIOUS)
            except RegistryError as exc:
                log.warning("%s: could not read the challenger alias (%s)", self.worker, exc)
                return
        serves = aliases.get(CHALLENGER) is not None
        version = aliases.get(CHALLENGER) or aliases.get(PREVIOUS)
        current, challenger = self.current, self.challenger
        if version is None or (current is not None and current.version == version):
            if challenger is not None:
                log.info(
                    "%s: no longer scoring version %s in shadow", self.worker, challenger.version
                )
            with self._lock:
                self._challenger = None
            return
        if challenger is not None and challenger.version == version:
            with self._lock:
                self._challenger_serves = serves
            return
        model = self._load(version)
        with self._lock:
            self._challenger, self._challenger_serves = model, serves
        if model is not None:
            role = "challenger" if serves else "previous champion"
            log.info("%s: scoring the %s, version %s, in shadow", self.worker, role, version)

    def wait_for_champion(self, stop: threading.Event, poll_s: float = 5.0) -> M | None:
        """Load `champion`; if there is none yet, say so and keep asking until there is."""
        announced = False
        while not stop.is_set():
            self._follow_from = self._model_versions_end()
            try:
                aliases = [CHAMPION, CHALLENGER, PREVIOUS] if self.with_challenger else [CHAMPION]
                versions = self.registry.alias_versions(*aliases, fetch=True)
                version = versions[CHAMPION]
            except RegistryError as exc:
                log.warning("%s: the registry did not answer (%s); retrying", self.worker, exc)
                stop.wait(poll_s)
                continue
            if version is not None:
                model = self._load(version)
                if model is not None:
                    with self._lock:
                        self._current = model
                        self.serving_since.setdefault(version, time.time())
                    log.info(
                        "%s: serving champion version %s (%s)", self.worker, version, model.kind
                    )
                    self.refresh_challenger(versions)
                    return model
            elif not announced:
                log.warning(
                    "%s: model %s has no champion yet; waiting. Train one with "
                    "`riskstream model train`",
                    self.worker,
                    self.registry.name,
                )
                announced = True
            stop.wait(poll_s)
        return None

    def follow(self) -> threading.Thread:
        """Start following `model-versions` on the at-least-once engine: from where the
        topic ended when the registry was read for the champion, so an event published while
        the versions loaded is handled, not missed (handling is idempotent). It reads
        committed events only (the trainer's are transactional) and commits nothing."""
        topic = self.settings.topic(MODEL_VERSIONS.name)
        source = AssignedSource(self.settings, topic, self._follow_from, default=OFFSET_END)
        metrics = WorkerMetrics(f"{self.worker}-model-follower")  # not served: its own
        runtime = AtLeastOnceRuntime(
            self.settings, self.worker, metrics, source, cadence=Cadence(100, 0.5, 0.0)
        )
        self._thread = threading.Thread(
            target=runtime.run, args=(self, self._stop), name="model-versions", daemon=True
        )
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def process(self, records: list[Message]) -> None:
        """Handle each decodable model-versions event, in order."""
        for message in records:
            try:
                event = self.codec.decode_event(message.value(), ModelVersionEvent)
            except CodecError:
                log.warning(
                    "%s: undecodable model-versions event at offset %s",
                    self.worker,
                    message.offset(),
                )
                continue
            self.handle_event(event)

    def tick(self) -> None:
        return None

    def _model_versions_end(self) -> dict[int, int]:
        """model-versions' end offsets now, by partition; empty when the broker cannot say
        (the follower then starts at the end it finds)."""
        topic = self.settings.topic(MODEL_VERSIONS.name)
        consumer = reader(self.settings)
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            return {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in partitions
            }
        except (KafkaException, KeyError):
            return {}
        finally:
            consumer.close()

    def handle_event(self, event: ModelVersionEvent) -> bool:
        """Swap in the version a champion-moving event names. True if it now serves. Any event
        of the model may have moved `challenger` too: it is read again."""
        if event.model_name != self.settings.model_name:
            return False
        if event.status == "REGISTERED" and event.version:
            self.prepare(event.version)
            return False
        if event.status not in CHAMPION_MOVES or event.alias != CHAMPION or not event.version:
            self.refresh_challenger()
            self._end_shadow(event)
            return False
        version = event.version
        current = self.current
        if current is not None and current.version == version:
            self.refresh_challenger()
            return True
        model = self._load(version)
        if model is None:
            return False
        with self._lock:
            self._current = model
            if self._challenger is not None and self._challenger.version == version:
                self._challenger = None  # promoted: it serves now, no longer in shadow
            self.swaps += 1
            self.serving_since.setdefault(version, time.time())
        log.info("%s: swapped in champion version %s", self.worker, version)
        self.refresh_challenger()
        return True

    def _end_shadow(self, event: ModelVersionEvent) -> None:
        """A rejected challenger, or the previous champion of a confirmed promotion, leaves
        the shadow on its event: the referee and the canary publish before they move the
        alias, so the registry read just before may still name it."""
        ended = {"REJECTED": event.version, "CONFIRMED": event.previous_version}.get(event.status)
        with self._lock:
            if ended is None or self._challenger is None or self._challenger.version != ended:
                return
            self._challenger = None
        log.info(
            "%s: no longer scoring version %s in shadow (%s)", self.worker, ended, event.status
        )

    def prepare(self, version: str) -> bool:
        """Load and self-check a version before it is promoted, so that its promotion is a
        pointer move. True if it is ready."""
        ready = self._load(version) is not None
        if ready and version not in self.prepared:
            self.prepared.append(version)
            log.info("%s: version %s is loaded, ready to serve when promoted", self.worker, version)
        return ready

    def _load(self, version: str) -> M | None:
        """The version's checked model: from memory when it was loaded already (prepared, or a
        champion or shadow version before), else from the registry."""
        with self._lock:
            kept = self._loaded.get(version)
        if kept is not None:
            return kept
        model = self._load_from_registry(version)
        if model is not None:
            self._keep(model)
        return model

    def _keep(self, model: M) -> None:
        """Remember a loaded model; the oldest that is neither champion nor shadow goes when
        more than LOADED_KEPT are held."""
        with self._lock:
            self._loaded[model.version] = model
            busy = {m.version for m in (self._current, self._challenger) if m is not None}
            for version in list(self._loaded):
                if len(self._loaded) <= LOADED_KEPT:
                    break
                if version not in busy and version != model.version:
                    del self._loaded[version]

    def _load_from_registry(self, version: str) -> M | None:
        started = time.monotonic()
        try:
            model = self._load_version(self.registry, version)
        except (ModelLoadError, RegistryError) as exc:
            self.load_failures += 1
            log.error(
                "%s: version %s failed to load (%s); the old version is kept",
                self.worker,
                version,
                exc.message,
            )
            self._on_load_failure(version, exc.message)
            return None
        log.info(
            "%s: loaded version %s in %.0f ms",
            self.worker,
            version,
            (time.monotonic() - started) * 1000,
        )
        return model
