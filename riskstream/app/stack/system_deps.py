"""The system packages the README's two commands need, installed before the venv exists.

Run with the machine's own ``python3`` (standard library only), from ``make``: the venv and
riskstream are not installed yet when this runs. As root with apt-get it installs what is
missing; otherwise it prints one line naming the packages and exits 1, so ``make demo`` on a
fresh machine either sets itself up or says exactly what to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# (command or probe, Debian package). A probe is checked by ``present`` below.
REQUIREMENTS: tuple[tuple[str, str], ...] = (
    ("redis-server", "redis-server"),
    ("redis-cli", "redis-tools"),  # creates `stack up --redis-cluster` (redis-server pulls it in)
    ("java", "openjdk-17-jre-headless"),
    ("mvn", "maven"),
    ("python3-venv", "python3-venv"),
)
# The tests also open the backtest report and the console in a real browser (Selenium drives
# Debian's chromium through its chromium-driver), and run the dashboard's queries against a
# real Prometheus (`riskstream stack up --with-prometheus`).
TEST_REQUIREMENTS: tuple[tuple[str, str], ...] = (
    ("chromium", "chromium"),
    ("chromedriver", "chromium-driver"),
    ("prometheus", "prometheus"),
)


@dataclass(frozen=True)
class Plan:
    """What to do: nothing, run apt-get for ``packages``, or tell the user to."""

    action: str  # nothing | install | tell
    packages: tuple[str, ...]
    message: str


def missing_packages(
    requirements: Iterable[tuple[str, str]], present: Callable[[str], bool]
) -> tuple[str, ...]:
    return tuple(package for probe, package in requirements if not present(probe))


def plan(missing: tuple[str, ...], is_root: bool, has_apt: bool) -> Plan:
    """Pure decision: install only as root with apt-get; never sudo on the user's behalf."""
    if not missing:
        return Plan("nothing", (), "system packages: all present")
    names = " ".join(missing)
    if is_root and has_apt:
        return Plan("install", missing, f"system packages: installing {names} with apt-get")
    how = "sudo apt-get install -y" if has_apt else "your package manager:"
    return Plan(
        "tell",
        missing,
        f"error: missing system packages: {names}. Install them ({how} {names}) "
        "and run the command again.",
    )


def present(probe: str) -> bool:
    if probe == "python3-venv":
        found = subprocess.run(
            [sys.executable, "-c", "import venv, ensurepip"], capture_output=True, check=False
        )
        return found.returncode == 0
    return shutil.which(probe) is not None


def _apt_install(packages: tuple[str, ...]) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    update = subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
    if update.returncode != 0:
        return update.returncode
    cmd = ["apt-get", "install", "-y", "-qq", "-o", "Dpkg::Use-Pty=0", "--no-install-recommends"]
    cmd += packages
    return subprocess.run(cmd, env=env, check=False).returncode


def _stop_system_redis() -> None:
    # Debian's package starts a system redis on 6379; the local stack runs its own.
    if shutil.which("service"):
        subprocess.run(["service", "redis-server", "stop"], capture_output=True, check=False)


def main(argv: list[str]) -> int:
    requirements = REQUIREMENTS + (TEST_REQUIREMENTS if "--tests" in argv else ())
    missing = missing_packages(requirements, present)
    decided = plan(missing, os.geteuid() == 0, shutil.which("apt-get") is not None)
    print(decided.message, flush=True)
    if decided.action == "tell":
        return 1
    if decided.action == "install":
        rc = _apt_install(decided.packages)
        if rc != 0:
            print(f"error: apt-get exited {rc}; install {' '.join(missing)} by hand.")
            return rc
        if "redis-server" in decided.packages:
            _stop_system_redis()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
