"""The deployment's secrets that the local stack can make for itself: the pseudonym key and
the key-encryption key.

Each is read from its setting; where every broker is on this machine (the local stack, the
tests), a missing one is made at random once, in a 0600 file under the state dir, and shared
by every worker of the stack. Any other deployment must set it: a ConfigError says which.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from pathlib import Path

from pydantic import SecretStr

from riskstream.core.errors import ConfigError
from riskstream.core.slices import ClusterSettings

log = logging.getLogger(__name__)


def local_secret(settings: ClusterSettings, configured: SecretStr, file: str, env: str) -> bytes:
    """``configured`` if set, else the local stack's key ``file`` (made on first use where
    every broker is on this machine); a ConfigError naming ``env`` otherwise."""
    value = configured.get_secret_value()
    if value:
        return value.encode("utf-8")
    path = settings.state_dir / file
    if path.exists():
        return _read_complete(path)
    if not is_local(settings.kafka_bootstrap):
        raise ConfigError(
            f"{env} is not set, and the broker is not on this machine",
            bootstrap=settings.kafka_bootstrap,
            hint=f"set {env} to a long random secret (e.g. `openssl rand -hex 32`), the same "
            "for every worker of the deployment",
        )
    return _make_key_file(path)


def is_local(bootstrap: str) -> bool:
    """Whether every broker of ``bootstrap`` is on this machine."""
    for server in bootstrap.split(","):
        host = server.strip().rsplit(":", 1)[0].strip("[]")
        if host == "localhost":
            continue
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return False
        except ValueError:
            return False
    return True


def _make_key_file(path: Path) -> bytes:
    """A new random key in ``path`` (0600), or the one a concurrent worker made first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32).hex().encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_complete(path)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    log.info("made the local stack's key %s", path)
    return key


def _read_complete(path: Path) -> bytes:
    """A key another process may still be writing: 64 hex digits once it is done."""
    for _ in range(100):
        key = path.read_bytes().strip()
        if len(key) == 64:
            return key
        time.sleep(0.01)
    raise ConfigError("a local key file is incomplete", path=str(path))
