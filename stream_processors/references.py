"""The drift references a monitor bins over, by model version, loaded on first use.

A version that does not load (unknown to this registry, corrupt or deleted: say predictions
another deployment wrote) is remembered with the reason and reported once; its records get no
verdict, and the worker goes on with every other version.
"""

from __future__ import annotations

from collections.abc import Callable

from riskstream.models.bundle import ModelLoadError
from riskstream.models.reference import DriftReference
from riskstream.models.registry_reader import RegistryError, VersionReference
from riskstream.stream_processors.model_holder import ModelHolder


class References:
    def __init__(
        self, champion: ModelHolder[VersionReference], on_unavailable: Callable[[str, str], None]
    ) -> None:
        self.champion = champion
        self.on_unavailable = on_unavailable  # (version, why): called once per version
        self.loaded: dict[str, DriftReference] = {}
        self.unavailable: dict[str, str] = {}

    def get(self, version: str) -> DriftReference | None:
        """The version's drift reference, or None when the version does not load."""
        if version in self.loaded:
            return self.loaded[version]
        if version in self.unavailable:
            return None
        current = self.champion.current
        if current is not None and current.version == version:
            self.loaded[version] = current.reference
            return current.reference
        try:  # a former champion's windows still closing, or a version predictions name
            self.loaded[version] = self.champion.registry.version_reference(version).reference
        except (ModelLoadError, RegistryError) as exc:
            self.unavailable[version] = exc.message
            self.on_unavailable(version, exc.message)
            return None
        return self.loaded[version]

    def add(self, version: str, reference: DriftReference) -> None:
        self.loaded.setdefault(version, reference)

    def versions(self) -> list[str]:
        return list(self.loaded)
