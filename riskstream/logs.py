"""Logging for commands and workers. Patient fields and ids are logged at DEBUG only."""

from __future__ import annotations

import logging
import warnings

from riskstream.settings import Settings


def configure_logging(settings: Settings) -> None:
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
    warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow(\..*)?")
