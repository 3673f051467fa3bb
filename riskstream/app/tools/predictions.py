"""Reading the prediction topic as a user: filters over decoded Predictions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from riskstream.core.pseudonyms import patient_ref, previous_keys, pseudonym_key
from riskstream.core.slices import ClusterSettings
from riskstream.core.topics import PREDICTIONS
from riskstream.io.kafka.reading import Start, read_events
from riskstream.schemas.events import Prediction


@dataclass(frozen=True)
class PredictionFilter:
    patient_refs: frozenset[str] | None = None  # one patient's references, under each key
    model_version: str | None = None
    min_risk: float | None = None

    @classmethod
    def of(
        cls,
        settings: ClusterSettings,
        patient_id: str | None = None,
        model_version: str | None = None,
        min_risk: float | None = None,
    ) -> PredictionFilter:
        """A filter for one patient id: its reference under the deployment's key and under
        every key rotated out (RISKSTREAM_PSEUDONYM_PREVIOUS_KEYS)."""
        refs = None
        if patient_id is not None:
            keys = [pseudonym_key(settings), *previous_keys(settings)]
            refs = frozenset(patient_ref(key, patient_id) for key in keys)
        return cls(refs, model_version, min_risk)

    def accepts(self, p: Prediction) -> bool:
        return (
            (self.patient_refs is None or p.patient_ref in self.patient_refs)
            and (self.model_version is None or p.model_version == self.model_version)
            and (self.min_risk is None or p.risk >= self.min_risk)
        )


def read_predictions(
    settings: ClusterSettings,
    start: Start = "end",
    where: PredictionFilter = PredictionFilter(),
    limit: int | None = None,
    follow: bool = False,
    skipped: Counter[str] | None = None,
) -> Iterator[Prediction]:
    """The Predictions that pass ``where``, at most ``limit`` of them; undecodable
    messages are counted in ``skipped``."""
    shown = 0
    topic = settings.topic(PREDICTIONS.name)
    read = read_events(settings, topic, Prediction, start, follow=follow, skipped=skipped)
    for prediction in read:
        if not where.accepts(prediction):
            continue
        yield prediction
        shown += 1
        if limit is not None and shown >= limit:
            return
