"""What a worker process loads before its first record. Every library imported at start is
resident for the worker's whole life: MLflow cost a worker 163 MiB, pandas (with pyarrow)
68 MiB, scipy.stats 46 MiB, against a bar of 300 MB per worker. Each is loaded only where it
is used: the trainer's estimators and MLflow live in its child processes."""

import json
import subprocess
import sys

import pytest

# module → heavy libraries it must not import at start
WORKERS = {
    "scorer": ("mlflow", "pandas", "sklearn", "river"),
    "joiner": ("mlflow", "pandas", "sklearn", "river", "scipy"),
    "trigger": ("mlflow", "pandas", "sklearn"),
    "monitor": ("mlflow", "pandas", "sklearn", "river", "scipy.stats"),
    "performance": ("mlflow", "pandas", "sklearn", "scipy.stats"),
    # fits, estimators and the registry are in its child processes; plots only at bootstrap
    "trainer": ("matplotlib", "mlflow", "sklearn", "xgboost", "river", "scipy.stats"),
}


def _loaded(module: str, libraries: tuple[str, ...]) -> list[str]:
    code = (
        "import json, sys\n"
        f"import riskstream.stream_processors.{module}\n"
        f"print(json.dumps([n for n in {list(libraries)!r} if n in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return list(json.loads(out.stdout))


@pytest.mark.parametrize("module", sorted(WORKERS))
def test_a_worker_starts_without_the_libraries_it_does_not_use(module: str) -> None:
    assert _loaded(module, WORKERS[module]) == []


def test_the_check_sees_a_library_that_is_imported() -> None:
    # the trainer fits frames: pandas is loaded, and the check must say so
    assert _loaded("trainer", ("pandas",)) == ["pandas"]
