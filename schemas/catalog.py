"""Where writer schemas come from: the local catalog of .avsc files, or a Schema Registry.

The local catalog gives every schema a stable id derived from its Avro parsing canonical form
(the first 31 bits of its SHA-256), so two processes that ship the same .avsc agree on the id
without talking to each other, and editing a doc string does not change it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from importlib import resources
from typing import Any, Protocol

import fastavro
from fastavro.schema import to_parsing_canonical_form

from riskstream.schemas.errors import UnknownSchemaIdError

EVENT_TYPES = (
    "PatientRecord",
    "Prediction",
    "GroundTruth",
    "LabeledExample",
    "DriftAlert",
    "RetrainRequest",
    "ModelVersionEvent",
    "DeadLetter",
    "PerformanceWindow",
    "AuditEvent",
    "PatientKey",
)
NAMESPACE = "io.riskstream"


def load_schema_json(event_type: str) -> dict[str, Any]:
    """The raw JSON of a shipped .avsc file."""
    text = resources.files("riskstream.schemas").joinpath(f"{event_type}.avsc").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def historic_schemas() -> list[dict[str, Any]]:
    """Earlier versions of the shipped schemas, oldest releases included."""
    folder = resources.files("riskstream.schemas").joinpath("history")
    return [
        json.loads(entry.read_text("utf-8"))
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".avsc")
    ]


def stable_schema_id(schema: Mapping[str, Any]) -> int:
    """A positive 31-bit id fixed by the schema's canonical form."""
    canonical = to_parsing_canonical_form(fastavro.parse_schema(dict(schema), _write_hint=False))
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class SchemaSource(Protocol):
    """What the codec needs: an id for a writer schema, and a schema for an id."""

    def id_for(self, schema: Mapping[str, Any]) -> int: ...

    def schema_for(self, schema_id: int) -> dict[str, Any]: ...


class LocalSchemaCatalog:
    """Schemas known to this process: the shipped .avsc files plus any registered later."""

    def __init__(self) -> None:
        self._by_id: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    @classmethod
    def shipped(cls) -> LocalSchemaCatalog:
        """The current schemas, and every earlier version riskstream shipped
        (``history/<Type>-<id>.avsc``): events an older release wrote (a compacted
        model-versions topic keeps them for ever) still decode, resolved into today's
        reader schema."""
        catalog = cls()
        for event_type in EVENT_TYPES:
            catalog.register(load_schema_json(event_type))
        for schema in historic_schemas():
            catalog.register(schema)
        return catalog

    def register(self, schema: Mapping[str, Any]) -> int:
        schema_id = stable_schema_id(schema)
        with self._lock:
            self._by_id.setdefault(schema_id, dict(schema))
        return schema_id

    def id_for(self, schema: Mapping[str, Any]) -> int:
        return self.register(schema)

    def schema_for(self, schema_id: int) -> dict[str, Any]:
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise UnknownSchemaIdError(
                "payload names a schema id the local catalog does not hold",
                hint="the producer used a schema this deployment does not ship; "
                "set RISKSTREAM_SCHEMA_REGISTRY_URL to share schemas through a registry",
                schema_id=schema_id,
            ) from None

    def __len__(self) -> int:
        return len(self._by_id)


_CLIENTS: dict[str, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _registry_client(url: str) -> Any:
    """One client per registry URL and process: codecs share its schema cache (and, for
    confluent-kafka's in-process "mock://" registry, its contents)."""
    from confluent_kafka.schema_registry import SchemaRegistryClient

    with _CLIENTS_LOCK:
        if url not in _CLIENTS:
            _CLIENTS[url] = SchemaRegistryClient.new_client({"url": url})
        return _CLIENTS[url]


class RegistrySchemaSource:
    """Ids from a Confluent-compatible Schema Registry (RecordNameStrategy subjects)."""

    def __init__(self, url: str, subject_prefix: str = "") -> None:
        self._client = _registry_client(url)
        self._subject_prefix = subject_prefix
        self._ids: dict[str, int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def id_for(self, schema: Mapping[str, Any]) -> int:
        from confluent_kafka.schema_registry import Schema

        text = json.dumps(schema, sort_keys=True)
        with self._lock:
            if text in self._ids:
                return self._ids[text]
        subject = f"{self._subject_prefix}{schema.get('namespace', NAMESPACE)}.{schema['name']}"
        schema_id = int(self._client.register_schema(subject, Schema(text, "AVRO")))
        with self._lock:
            self._ids[text] = schema_id
            self._schemas[schema_id] = dict(schema)
        return schema_id

    def schema_for(self, schema_id: int) -> dict[str, Any]:
        with self._lock:
            if schema_id in self._schemas:
                return self._schemas[schema_id]
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            fetched = self._client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            raise UnknownSchemaIdError(
                "the schema registry does not know this schema id",
                hint="check that producers and consumers use the same registry",
                schema_id=schema_id,
                registry_error=exc.error_message,
            ) from None
        schema: dict[str, Any] = json.loads(fetched.schema_str or "{}")
        with self._lock:
            self._schemas[schema_id] = schema
        return schema
