"""The notifier marks a webhook as handled in Redis only once what it owes it is done: at
once for a delivery, and for a webhook that refused the event only once its dead letter is
delivered (the engine runs ``before_commit`` after the outputs are flushed), so a dead
letter that was not delivered is made again when the event is handed again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from riskstream.core.settings import Settings
from riskstream.core.topics import DEAD_LETTER
from riskstream.models.monitoring.notifications import Notification
from riskstream.stream_processors.notifier import Notifier


@dataclass
class FakeRedis:
    keys: dict[str, Any] = field(default_factory=dict)

    def exists(self, key: str) -> int:
        return int(key in self.keys)

    def set(self, key: str, value: Any, ex: int | None = None) -> None:
        self.keys[key] = value


@dataclass
class FakeMessage:
    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return b"\x00original"

    def topic(self) -> str:
        return "t.drift-alerts"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 7

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_000)


def notifier(refused: set[str]) -> Notifier:
    n = Notifier(Settings(topic_prefix="t.", webhook_urls=SecretStr("http://a, http://b")))
    n.redis = FakeRedis()  # type: ignore[assignment]
    n._notification = lambda message: Notification("e1", "text", {})  # type: ignore[method-assign]
    n._deliver = lambda url, note: "HTTP 500 after 3 tries" if url in refused else None  # type: ignore[method-assign]
    return n


def test_a_refused_webhook_is_marked_only_once_its_dead_letter_is_out() -> None:
    n = notifier(refused={"http://b"})
    batch = n.process([FakeMessage()])  # type: ignore[list-item]
    assert [o.topic for o in batch.outputs] == [DEAD_LETTER]
    assert batch.outputs[0].event.original_value == b"\x00original"
    marked = set(n.redis.keys)  # type: ignore[attr-defined]
    assert len(marked) == 1  # the delivered webhook only
    assert batch.before_commit is not None
    batch.before_commit()  # the engine: once the dead letter is delivered
    assert len(n.redis.keys) == 2  # type: ignore[attr-defined]


def test_an_event_handed_again_before_the_mark_makes_its_dead_letter_again() -> None:
    n = notifier(refused={"http://b"})
    first = n.process([FakeMessage()])  # type: ignore[list-item]
    again = n.process([FakeMessage()])  # the dead letter was not delivered: no mark, no commit
    assert len(first.outputs) == len(again.outputs) == 1
    assert n.sent == 1  # the delivered webhook is not sent twice


def test_a_batch_with_every_webhook_delivered_has_nothing_to_do_before_the_commit() -> None:
    n = notifier(refused=set())
    batch = n.process([FakeMessage()])  # type: ignore[list-item]
    assert batch.outputs == [] and batch.before_commit is None and n.sent == 2
