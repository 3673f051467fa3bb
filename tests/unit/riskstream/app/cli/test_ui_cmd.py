"""The address `riskstream ui` and the demo print."""

import pytest
from typer.testing import CliRunner

from riskstream.app.cli.ui_cmd import console_url


def test_the_url_carries_a_one_time_token_only_when_one_was_made() -> None:
    assert console_url("127.0.0.1", 8420, "abc") == "http://127.0.0.1:8420/overview?token=abc"
    assert console_url("127.0.0.1", 8420, None) == "http://127.0.0.1:8420/overview"


def test_a_wildcard_bind_is_shown_as_an_address_a_browser_opens() -> None:
    assert console_url("0.0.0.0", 9000, None) == "http://127.0.0.1:9000/overview"
    assert console_url("console.lan", 9000, None) == "http://console.lan:9000/overview"


def test_serving_beyond_loopback_without_a_token_is_refused_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from riskstream.app.cli.main import app

    monkeypatch.delenv("RISKSTREAM_UI_TOKEN", raising=False)
    # no broker, Redis or registry is needed to refuse: nothing has been touched yet
    monkeypatch.setenv("RISKSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    result = CliRunner().invoke(app, ["ui", "--host", "0.0.0.0"])
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert "non-loopback address without a write token" in said
    assert "RISKSTREAM_UI_TOKEN" in said
