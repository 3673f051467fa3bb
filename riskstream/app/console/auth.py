"""Who may write through the console (pure).

Reading is open to whoever reaches the port; every write needs the bearer token. On a
loopback address without ``RISKSTREAM_UI_TOKEN`` the console makes a one-time token and
prints it in the URL it shows (as Jupyter does); on any other address it refuses to start
without one, since anyone on the network could then approve a model.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

from pydantic import SecretStr

from riskstream.core.errors import ConfigError, RiskstreamError


class ConsoleError(RiskstreamError):
    """The console cannot start, or refused a request."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def write_token(host: str, configured: SecretStr) -> tuple[SecretStr, bool]:
    """The token writes need, and whether it was made here (to print it once)."""
    if configured.get_secret_value():
        return configured, False
    if not is_loopback(host):
        raise ConfigError(
            "refusing to serve the console on a non-loopback address without a write token",
            host=host,
            hint="set RISKSTREAM_UI_TOKEN to a long random secret (e.g. `openssl rand -hex 32`)"
            ", or bind to 127.0.0.1 with RISKSTREAM_UI_HOST",
        )
    return SecretStr(secrets.token_urlsafe(24)), True


def authorized(header: str | None, token: SecretStr) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    expected = token.get_secret_value()
    if not header or not expected:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())
