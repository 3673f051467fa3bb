"""The one exception tree of riskstream.

Every error riskstream raises on purpose derives from :class:`RiskstreamError` and carries the
context a person needs to act on it: what happened, where, and what to do next.
"""

from __future__ import annotations


class RiskstreamError(Exception):
    """Root of every riskstream error."""

    def __init__(self, message: str, *, hint: str | None = None, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.context = context

    def __str__(self) -> str:
        text = self.message
        if self.context:
            details = ", ".join(f"{k}={v}" for k, v in self.context.items())
            text = f"{text} ({details})"
        if self.hint:
            text = f"{text}\n  → {self.hint}"
        return text


class ConfigError(RiskstreamError):
    """A setting is missing, malformed or contradicts another."""


class StackError(RiskstreamError):
    """The local Kafka/Redis stack could not be started, reached or stopped."""


class PortInUseError(StackError):
    """A port the local stack needs is held by a process riskstream did not start."""


class ServiceUnavailableError(RiskstreamError):
    """Kafka or Redis did not answer at the configured address."""


class CredentialsRefusedError(ServiceUnavailableError):
    """Kafka or Redis answered but refused riskstream's credentials or TLS certificate."""


class TopicError(RiskstreamError):
    """A topic is missing or exists with a layout that differs from the catalog."""
