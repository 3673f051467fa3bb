"""What `pip install riskstream` puts into site-packages: everything under `riskstream.`,
nothing under a generic top-level name such as `models` that a user's project may own."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAYERS = ("models", "producers", "schemas", "stream_processors")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(out), str(REPO)],
        check=True,
    )  # fmt: skip
    (built,) = out.glob("riskstream-*.whl")
    return built


def test_the_wheel_installs_every_package_under_riskstream(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names if "/" in n and ".dist-info" not in n}
    assert tops == {"riskstream"}
    for layer in LAYERS:
        assert f"riskstream/{layer}/__init__.py" in names, layer
    assert "riskstream/schemas/PatientRecord.avsc" in names


def test_a_clean_venv_imports_riskstream_and_not_models(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         str(wheel)],
        check=True,
    )  # fmt: skip
    # The wheel is the only riskstream here; its dependencies come from the test's own
    # environment, appended after the clean venv's site-packages (a .pth line adds a plain
    # path, so the editable install of the checkout is not activated).
    site = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            text=True,
        ).strip()
    )
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    probe = (
        "import importlib, riskstream.models.features, riskstream.schemas, "
        "riskstream.models.monitoring.statistics, riskstream.producers\n"
        "print(riskstream.models.features.__file__)\n"
        f"for name in {LAYERS!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ModuleNotFoundError:\n"
        "        print('absent', name)\n"
    )
    done = subprocess.run(
        [str(python), "-I", "-c", probe], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(str(site)), lines[0]
    assert lines[1:] == [f"absent {name}" for name in LAYERS]
