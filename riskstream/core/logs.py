"""Logging for commands and workers. Patient fields and ids are logged at DEBUG only."""

from __future__ import annotations

import logging
import warnings

from riskstream.core.slices import DeploymentSettings


class QuietWarnings(logging.Filter):
    """Counts a library's warnings and lets only its errors through (all, when ``loud``),
    so a summary can say how many it held back."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.loud = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING:
            self.count += 1
        return self.loud or record.levelno >= logging.ERROR


LIBRDKAFKA_WARNINGS = QuietWarnings()


def configure_logging(settings: DeploymentSettings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    # MLflow narrates every registration at INFO and warns that pyfunc models are pickled
    # (ours hold our own bundle); keep the workers' logs about riskstream.
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # Faust narrates every service start and stop at INFO; its warnings and errors stay.
    for name in ("faust", "mode", "aiokafka"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # librdkafka warns of every refused connection and retried request; the workers handle
    # those. Counted, shown at DEBUG, and its errors always.
    librdkafka = logging.getLogger("librdkafka")
    if LIBRDKAFKA_WARNINGS not in librdkafka.filters:
        librdkafka.addFilter(LIBRDKAFKA_WARNINGS)
    LIBRDKAFKA_WARNINGS.loud = settings.log_level.upper() == "DEBUG"
    warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow(\..*)?")
