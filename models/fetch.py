"""``python -m riskstream.models.fetch``: the registry reads of the workers, in a child process that
imports MLflow, prints one JSON line and exits (see ``riskstream.models.registry_reader``).

    python -m riskstream.models.fetch alias champion   -> {"version": "3"} or {"version": null}
    python -m riskstream.models.fetch alias champion,challenger
                                    -> {"version": "3", "versions": {"champion": "3", ...}}
    python -m riskstream.models.fetch alias+fetch champion,challenger
                                    -> the same, each version cached as ``version`` caches it
    python -m riskstream.models.fetch version 3        -> {"version": "3", "folder": "..."}

``version`` downloads the bundle, checks that it loads and scores, and caches it with the
version's validation metrics; a failure prints {"error": ..., "kind": ...} and exits 2.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import warnings

from riskstream.core.errors import RiskstreamError
from riskstream.core.settings import load_settings
from riskstream.models.bundle import ScoringModel
from riskstream.models.registry_reader import cache_version, is_cached


def _fetch_version(version: str) -> dict[str, str]:
    from riskstream.models.registry import Registry

    settings = load_settings()
    registry = Registry(settings)
    version, path = registry.download(version)
    model = ScoringModel.load(path)  # refuses a corrupt bundle before any worker sees it
    metrics = registry.get(version).metrics
    folder = cache_version(settings, version, path, metrics, model.reference)
    return {"version": version, "folder": str(folder)}


def _alias(names: str, fetch: bool = False) -> dict[str, object]:
    """The versions of comma-separated aliases, in one child process: the first as
    ``version``, all of them as ``versions``. With ``fetch``, each version not yet in the
    cache is cached too: a worker starting up loads them next, and one child that imports
    MLflow saves it a second one (3.4-5.6 s measured on 2 cores). A version that fails here is
    left out of the cache; the worker's own load asks again and reports why."""
    from riskstream.models.registry import Registry

    settings = load_settings()
    registry = Registry(settings)
    versions = {alias: registry.alias_version(alias) for alias in names.split(",")}
    if fetch:
        for version in {v for v in versions.values() if v is not None}:
            if not is_cached(settings, version):
                with contextlib.suppress(RiskstreamError):
                    _fetch_version(version)
    return {"version": next(iter(versions.values())), "versions": versions}


COMMANDS = ("alias", "alias+fetch", "version")


def main(argv: list[str]) -> int:
    logging.disable(logging.WARNING)  # stdout carries the answer; MLflow narrates on stderr
    warnings.filterwarnings("ignore")
    if len(argv) != 2 or argv[0] not in COMMANDS:
        usage = "alias NAMES | alias+fetch NAMES | version N"
        print(json.dumps({"error": f"usage: riskstream.models.fetch {usage}, not {argv}"}))
        return 2
    command, arg = argv
    try:
        answer = (
            _fetch_version(arg) if command == "version" else _alias(arg, command == "alias+fetch")
        )
    except RiskstreamError as exc:
        context = {k: str(v) for k, v in exc.context.items()}
        print(json.dumps({"error": exc.message, "kind": type(exc).__name__, "context": context}))
        return 2
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
