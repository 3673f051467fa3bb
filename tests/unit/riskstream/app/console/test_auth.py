"""Who may write through the console."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from riskstream.app.console.auth import authorized, is_loopback, write_token
from riskstream.core.errors import ConfigError

TOKEN = SecretStr("s3cret-token")


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("Bearer s3cret-token", True),
        ("bearer s3cret-token", True),
        ("Bearer s3cret-tokeN", False),
        ("Bearer s3cret-token-and-more", False),
        ("Basic s3cret-token", False),
        ("s3cret-token", False),
        ("", False),
        (None, False),
    ],
)
def test_a_write_needs_exactly_the_bearer_token(header: str | None, ok: bool) -> None:
    assert authorized(header, TOKEN) is ok


def test_no_token_configured_means_no_write_at_all() -> None:
    assert not authorized("Bearer ", SecretStr(""))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False),
     ("10.0.0.5", False), ("console.example", False)],
)  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_public_bind_without_a_token_is_refused_with_what_to_do() -> None:
    with pytest.raises(ConfigError, match="non-loopback") as raised:
        write_token("0.0.0.0", SecretStr(""))
    assert "RISKSTREAM_UI_TOKEN" in (raised.value.hint or "")


def test_loopback_without_a_token_gets_a_fresh_one_time_token() -> None:
    first, made = write_token("127.0.0.1", SecretStr(""))
    second, _ = write_token("127.0.0.1", SecretStr(""))
    assert made and len(first.get_secret_value()) >= 24
    assert first.get_secret_value() != second.get_secret_value()
    assert write_token("0.0.0.0", TOKEN) == (TOKEN, False)
