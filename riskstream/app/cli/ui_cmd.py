"""``riskstream ui``: serve the operator's console."""

from __future__ import annotations

import typer

from riskstream.app.cli.output import echo, fails_cleanly
from riskstream.core.logs import configure_logging
from riskstream.core.settings import load_settings


def console_url(host: str, port: int, token: str | None) -> str:
    """The address to open; with the one-time token when the console made one."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://{shown}:{port}/overview" + (f"?token={token}" if token else "")


@fails_cleanly
def ui(
    host: str | None = typer.Option(None, help="Bind address (RISKSTREAM_UI_HOST)."),
    port: int | None = typer.Option(None, help="Port (RISKSTREAM_UI_PORT)."),
) -> None:
    """Serve the console: overview, drift, performance, models, alerts and backtests, live,
    and the JSON API under /api/v1 (OpenAPI at /openapi.json). Writes need the token."""
    from riskstream.app.console.auth import write_token
    from riskstream.app.console.server import ConsoleServer

    settings = load_settings()
    configure_logging(settings)
    host = host or settings.ui_host
    port = port or settings.ui_port
    token, made = write_token(host, settings.ui_token)
    server = ConsoleServer(settings, host, port, token).start()
    echo(f"console: {console_url(host, port, token.get_secret_value() if made else None)}")
    if made:
        echo("  (a one-time write token, in the URL above; set RISKSTREAM_UI_TOKEN to keep one)")
    echo("Ctrl-C stops it")
    try:
        server.wait()
    finally:
        server.stop()
