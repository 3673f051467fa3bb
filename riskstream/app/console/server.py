"""The console served from a thread, beside other work: the demo serves it while its workers
run (and after, with ``--keep-running``), and the tests serve it beside theirs."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from pydantic import SecretStr

from riskstream.app.console.app import create_app
from riskstream.app.console.auth import ConsoleError
from riskstream.app.console.feed import ConsoleFeed
from riskstream.core.settings import Settings
from riskstream.io.kafka.admin import ensure_topics


def port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class ConsoleServer:
    def __init__(self, settings: Settings, host: str, port: int, token: SecretStr) -> None:
        self.feed = ConsoleFeed(settings)
        app = create_app(settings, token, self.feed)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="console", daemon=True)
        self.base = f"http://{host}:{port}"

    def start(self, timeout_s: float = 30.0) -> ConsoleServer:
        ensure_topics(self.feed.settings)  # a deployment's first look may come before its workers
        self.feed.start()
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ConsoleError(
                    "the console did not start",
                    address=self.base,
                    hint="see the log above; another RISKSTREAM_UI_PORT may help",
                )
            time.sleep(0.05)
        return self

    def wait(self) -> None:
        """Serve until the server stops or Ctrl-C."""
        try:
            while self.thread.is_alive():
                self.thread.join(1.0)
        except KeyboardInterrupt:
            pass

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.feed.stop()
