"""Logging set-up: a quieted library's warnings are counted, its errors shown."""

from __future__ import annotations

import logging

from riskstream.core.logs import LIBRDKAFKA_WARNINGS, configure_logging
from riskstream.core.settings import Settings


def test_librdkafka_warnings_are_counted_not_printed_and_errors_pass(caplog) -> None:
    configure_logging(Settings(log_level="INFO"))
    before = LIBRDKAFKA_WARNINGS.count
    log = logging.getLogger("librdkafka")
    with caplog.at_level(logging.INFO):
        log.warning("FAIL|rdkafka#producer-1| Connect to ipv4#127.0.0.1:9092 failed")
        log.error("fatal: something a worker cannot handle")
    assert LIBRDKAFKA_WARNINGS.count == before + 1
    assert [r.levelname for r in caplog.records if r.name == "librdkafka"] == ["ERROR"]
    configure_logging(Settings(log_level="DEBUG"))
    with caplog.at_level(logging.DEBUG):
        log.warning("shown at DEBUG")
    assert any(r.getMessage() == "shown at DEBUG" for r in caplog.records)
    configure_logging(Settings(log_level="INFO"))
