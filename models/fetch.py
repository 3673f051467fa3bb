"""``python -m riskstream.models.fetch``: the registry reads of the workers, in a child process that
imports MLflow, prints one JSON line and exits (see ``riskstream.models.registry_reader``).

    python -m riskstream.models.fetch alias champion   -> {"version": "3"} or {"version": null}
    python -m riskstream.models.fetch alias champion,challenger
                                    -> {"version": "3", "versions": {"champion": "3", ...}}
    python -m riskstream.models.fetch version 3        -> {"version": "3", "folder": "..."}

``version`` downloads the bundle, checks that it loads and scores, and caches it with the
version's validation metrics; a failure prints {"error": ..., "kind": ...} and exits 2.
"""

from __future__ import annotations

import json
import logging
import sys
import warnings

from riskstream.core.errors import RiskstreamError
from riskstream.core.settings import load_settings
from riskstream.models.bundle import ScoringModel
from riskstream.models.registry_reader import cache_version


def _fetch_version(version: str) -> dict[str, str]:
    from riskstream.models.registry import Registry

    settings = load_settings()
    registry = Registry(settings)
    version, path = registry.download(version)
    ScoringModel.load(path)  # refuses a corrupt bundle before any worker sees it
    folder = cache_version(settings, version, path, registry.get(version).metrics)
    return {"version": version, "folder": str(folder)}


def _alias(names: str) -> dict[str, object]:
    """The versions of comma-separated aliases, in one child process: the first as
    ``version``, all of them as ``versions``."""
    from riskstream.models.registry import Registry

    registry = Registry(load_settings())
    versions = {alias: registry.alias_version(alias) for alias in names.split(",")}
    return {"version": next(iter(versions.values())), "versions": versions}


def main(argv: list[str]) -> int:
    logging.disable(logging.WARNING)  # stdout carries the answer; MLflow narrates on stderr
    warnings.filterwarnings("ignore")
    if len(argv) != 2 or argv[0] not in ("alias", "version"):
        print(
            json.dumps(
                {"error": f"usage: riskstream.models.fetch alias NAME | version N, not {argv}"}
            )
        )
        return 2
    try:
        answer = _alias(argv[1]) if argv[0] == "alias" else _fetch_version(argv[1])
    except RiskstreamError as exc:
        context = {k: str(v) for k, v in exc.context.items()}
        print(json.dumps({"error": exc.message, "kind": type(exc).__name__, "context": context}))
        return 2
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
