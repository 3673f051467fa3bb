"""The trainer's model registry, held by a child process of its own.

``import mlflow`` brings pandas, pyarrow and scipy, and the sqlite store SQLAlchemy and
Alembic: about 160 MiB of the trainer's 350 MiB at rest (measured, 2026-12-05). The trainer
only moves aliases, writes tags and logs bundles that its training process hands it as bytes,
so it asks one warm child that holds the :class:`Registry` (spawned at the trainer's start,
like its training process) and its own process never imports MLflow. The trainer's loop, its
referee and its canary share the child; their calls are answered one at a time.

Answers come back as the light types of ``registry_reader`` (``VersionInfo``, ``Watch``) or
as strings. An error the registry raises comes back as itself when it is a
:class:`RiskstreamError`, and as a :class:`RegistryError` naming it otherwise: unpickling
MLflow's own exception would import MLflow here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskstream.core.errors import RiskstreamError
from riskstream.models.bundle import BUNDLE_FILE
from riskstream.models.registry_reader import RegistryError, VersionInfo, Watch, registered_name
from riskstream.models.training_process import TrainingProcess

if TYPE_CHECKING:
    from riskstream.core.worker_slices import ChampionSettings
    from riskstream.models.reference import DriftReference
    from riskstream.models.registry import Registry

_HELD: dict[tuple[str, str], Registry] = {}  # in the child: one Registry per deployment


def _warm() -> None:
    import riskstream.models.registry  # noqa: F401


def _registry(settings: ChampionSettings) -> Registry:
    from riskstream.models.registry import Registry

    key = (registered_name(settings), settings.resolved_mlflow_uri)
    if key not in _HELD:
        _HELD[key] = Registry(settings)
    return _HELD[key]


def _call(settings: ChampionSettings, method: str, args: tuple[Any, ...], kwargs: Any) -> Any:
    """In the child: ``Registry(settings).method(*args, **kwargs)``."""
    try:
        return getattr(_registry(settings), method)(*args, **kwargs)
    except RiskstreamError:
        raise
    except Exception as exc:
        raise RegistryError(
            f"the registry failed: {type(exc).__name__}: {str(exc)[:300]}", method=method
        ) from None


def _log_bundle(settings: ChampionSettings, bundle: bytes, *args: Any, **kwargs: Any) -> Any:
    """In the child: the bundle's bytes into a file, and that file logged and registered."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / BUNDLE_FILE
        path.write_bytes(bundle)
        return _call(settings, "log_bundle", (path, *args), kwargs)


class RegistryProcess:
    """The :class:`Registry` methods the trainer uses, each answered by the child."""

    def __init__(self, settings: ChampionSettings) -> None:
        self.settings = settings
        self.process = TrainingProcess("registry", warm=_warm)
        self.experiment_id: str | None = None  # once opened

    def _ask(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.process.run(_call, self.settings, method, args, kwargs)

    def open(self) -> str:
        """Start the child and open the store in it (see :meth:`Registry.open`)."""
        self.experiment_id = str(self._ask("open"))
        return self.experiment_id

    def stop(self) -> None:
        self.process.stop()

    # -- reading --------------------------------------------------------------------------

    def alias_version(self, alias: str) -> str | None:
        found: str | None = self._ask("alias_version", alias)
        return found

    def get(self, version: str) -> VersionInfo:
        info: VersionInfo = self._ask("get", version)
        return info

    def versions(self) -> list[VersionInfo]:
        found: list[VersionInfo] = self._ask("versions")
        return found

    def watch(self) -> Watch | None:
        watch: Watch | None = self._ask("watch")
        return watch

    def challenged_at(self, info: VersionInfo) -> int:
        return int(self._ask("challenged_at", info))

    def download(self, ref: str) -> tuple[str, Path]:
        """A version's bundle file, downloaded by the child: (version, path)."""
        version, path = self._ask("download", ref)
        return str(version), Path(path)

    # -- writing --------------------------------------------------------------------------

    def log_bundle(
        self,
        bundle: bytes,
        reference: DriftReference,
        *,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
    ) -> tuple[str, str]:
        """:meth:`Registry.log_bundle` of a bundle's bytes: (run_id, registered version)."""
        run_id, version = self.process.run(
            _log_bundle, self.settings, bundle, reference, params=params, metrics=metrics, tags=tags
        )
        return str(run_id), str(version)

    def promote(self, version: str, *, watch: bool = False) -> str | None:
        previous: str | None = self._ask("promote", version, watch=watch)
        return previous

    def challenge(self, version: str) -> None:
        self._ask("challenge", version)

    def await_approval(self, version: str, why: str) -> None:
        self._ask("await_approval", version, why)

    def end_challenge(self, version: str, evidence: str) -> None:
        self._ask("end_challenge", version, evidence)

    def record_evidence(self, version: str, evidence: str) -> None:
        self._ask("record_evidence", version, evidence)

    def end_watch(self, version: str, outcome: str) -> None:
        self._ask("end_watch", version, outcome)

    def rollback(self, outcome: str = "", to: str | None = None) -> tuple[str, str]:
        rolled_from, rolled_to = self._ask("rollback", outcome, to)
        return str(rolled_from), str(rolled_to)
