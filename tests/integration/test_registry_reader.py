"""The workers' registry reader against a real MLflow store: a worker's start-up reads the
aliases and caches their versions in one child process, so loading them starts none."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest

from riskstream.core.settings import Settings
from riskstream.models.registry import CHALLENGER, CHAMPION
from riskstream.models.registry_reader import METRICS_FILE, RegistryReader, version_cache

pytestmark = pytest.mark.integration
DEPLOYMENT = {"champion": True, "stem": "rr"}


def test_aliases_read_with_fetch_cache_their_versions_in_the_same_child(
    deployment: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    children: list[list[str]] = []
    run = subprocess.run

    def counted(argv: list[str], **kwargs: Any) -> Any:
        children.append(argv[3:])
        return run(argv, **kwargs)

    monkeypatch.setattr(subprocess, "run", counted)
    for fetch, expected in [
        (False, [["alias", "champion,challenger"], ["version", "1"]]),
        (True, [["alias+fetch", "champion,challenger"]]),
    ]:
        shutil.rmtree(version_cache(deployment, "1"), ignore_errors=True)
        children.clear()
        reader = RegistryReader(deployment)
        versions = reader.alias_versions(CHAMPION, CHALLENGER, fetch=fetch)
        assert versions == {CHAMPION: "1", CHALLENGER: None}
        assert (version_cache(deployment, "1") / METRICS_FILE).exists() == fetch
        assert reader.load("1").version == "1" and reader.metrics("1")
        assert children == expected, (fetch, children)
