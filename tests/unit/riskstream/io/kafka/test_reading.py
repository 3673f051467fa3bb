"""Reading a topic with no broker at the address: a message that says what to do, not a
librdkafka traceback (`riskstream predictions`, `model evidence`, `backtest` read this way)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from riskstream.core.errors import ServiceUnavailableError
from riskstream.core.settings import Settings
from riskstream.io.kafka.reading import messages


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on leaving: nothing listens there


def test_no_broker_is_named_with_the_command_that_starts_one(tmp_path: Path) -> None:
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{_closed_port()}", state_dir=tmp_path)
    with pytest.raises(ServiceUnavailableError) as failed:
        next(messages(settings, "t.labeled-examples", "beginning"))
    assert failed.value.context["topic"] == "t.labeled-examples"
    assert failed.value.hint is not None and "riskstream stack up" in failed.value.hint
