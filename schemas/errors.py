"""Typed decode and encode failures of the Avro codec.

Each error is both a :class:`riskstream.core.errors.RiskstreamError` and confluent-kafka's own
``SerializationError``, so callers can catch either. ``reason`` is the machine-readable code
that the dead-letter topic records.
"""

from __future__ import annotations

from confluent_kafka.serialization import SerializationError

from riskstream.core.errors import RiskstreamError


class CodecError(RiskstreamError, SerializationError):
    """A payload could not be encoded or decoded."""

    reason = "codec_error"

    def __init__(self, message: str, *, hint: str | None = None, **context: object) -> None:
        RiskstreamError.__init__(self, message, hint=hint, **context)


class EmptyPayloadError(CodecError):
    """The message value is empty or null."""

    reason = "empty_payload"


class WrongMagicByteError(CodecError):
    """The first byte is not the Confluent wire-format magic byte 0 (JSON, plain Avro, ...)."""

    reason = "wrong_magic_byte"


class UnknownSchemaIdError(CodecError):
    """The 4-byte schema id names no schema the catalog or the registry knows."""

    reason = "unknown_schema_id"


class TruncatedPayloadError(CodecError):
    """The payload ends before the record it announces is complete."""

    reason = "truncated_payload"


class MalformedPayloadError(CodecError):
    """The bytes do not decode under the writer schema (garbage, trailing bytes, bad union)."""

    reason = "malformed_payload"


class MissingFieldError(CodecError):
    """A required field is absent: the writer schema lacks it and the reader has no default,
    or a record to encode does not carry it."""

    reason = "missing_field"


class SchemaMismatchError(CodecError):
    """The payload was written with a schema of another record type than the reader expects."""

    reason = "schema_mismatch"


class OversizedPayloadError(CodecError):
    """The payload exceeds the configured maximum size; it is not even parsed."""

    reason = "oversized_payload"
