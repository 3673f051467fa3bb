"""Avro contracts of every riskstream event (the .avsc files here) and their codec."""

from riskstream.schemas.catalog import (
    EVENT_TYPES,
    LocalSchemaCatalog,
    RegistrySchemaSource,
    stable_schema_id,
)
from riskstream.schemas.codec import AvroCodec, build_codec
from riskstream.schemas.errors import (
    CodecError,
    EmptyPayloadError,
    MalformedPayloadError,
    MissingFieldError,
    OversizedPayloadError,
    SchemaMismatchError,
    TruncatedPayloadError,
    UnknownSchemaIdError,
    WrongMagicByteError,
)

__all__ = [
    "EVENT_TYPES",
    "AvroCodec",
    "CodecError",
    "EmptyPayloadError",
    "LocalSchemaCatalog",
    "MalformedPayloadError",
    "MissingFieldError",
    "OversizedPayloadError",
    "RegistrySchemaSource",
    "SchemaMismatchError",
    "TruncatedPayloadError",
    "UnknownSchemaIdError",
    "WrongMagicByteError",
    "build_codec",
    "stable_schema_id",
]
