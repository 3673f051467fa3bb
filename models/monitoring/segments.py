"""Per-source segments of a window: pure functions, no I/O.

One clinic can go wrong inside a healthy global window: its glucose shifted, its lab
reporting in other units. So each window also counts every record under its source's
segment, in the same Redis hash (``<segment>|<field>`` beside the global ``<field>``), with
the same compare-and-set: a segment's counts are as exact as the window's.

Cardinality stays bounded twice. At count time, a deployment tracks at most
``TRACKED_PER_SEGMENT`` x ``RISKSTREAM_SEGMENTS_MAX`` distinct sources (admitted in Redis,
first come); any other source counts as ``other``. At close, the ``RISKSTREAM_SEGMENTS_MAX``
busiest segments of the window are judged on their own, and the rest are added into
``other`` (histograms add). A segment with too few records gets no verdict, as a window does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

SEPARATOR = "|"
OTHER = "other"
TRACKED_PER_SEGMENT = 4
MAX_NAME = 64
Item = TypeVar("Item")


def segment_name(source: str | None) -> str | None:
    """A source as a segment name: no separator or colon (they structure the hash's field
    names), at most 64 characters; None for a record without a source."""
    if not source:
        return None
    cleaned = source.replace(SEPARATOR, "_").replace(":", "_").strip()[:MAX_NAME]
    return cleaned or None


def with_segments(
    items: Iterable[Item],
    segment_of: Callable[[Item], str | None],
    fields_of: Callable[[list[Item]], Counter[str]],
) -> Counter[str]:
    """``fields_of`` the items, and of each segment's items prefixed ``<segment>|``: computed
    once per segment, the whole being their sum."""
    groups: dict[str | None, list[Item]] = {}
    for item in items:
        groups.setdefault(segment_of(item), []).append(item)
    out: Counter[str] = Counter()
    for segment, group in groups.items():
        fields = fields_of(group)
        out.update(fields)
        if segment is not None:
            out.update({f"{segment}{SEPARATOR}{name}": count for name, count in fields.items()})
    return out


def split_segments(values: Mapping[str, int]) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """A window's fields → (the global fields, segment → its fields)."""
    whole: dict[str, int] = {}
    segments: dict[str, dict[str, int]] = {}
    for name, count in values.items():
        segment, sep, field = name.partition(SEPARATOR)
        if sep:
            segments.setdefault(segment, {})[field] = count
        else:
            whole[name] = count
    return whole, segments


def busiest(segments: Mapping[str, Mapping[str, int]], keep: int) -> dict[str, dict[str, int]]:
    """The ``keep`` segments with the most records (ties: by name), and the rest added into
    ``other``."""
    ranked = sorted(
        (s for s in segments if s != OTHER), key=lambda s: (-segments[s].get("n", 0), s)
    )
    kept = {s: dict(segments[s]) for s in ranked[:keep]}
    rest: Counter[str] = Counter()
    for segment in [*ranked[keep:], *([OTHER] if OTHER in segments else [])]:
        rest.update(segments[segment])
    if rest:
        kept[OTHER] = dict(rest)
    return kept


def judged_segments(
    segments: Mapping[str, Mapping[str, int]], keep: int, total: int
) -> dict[str, dict[str, int]]:
    """``busiest`` of a window, or none when one segment holds every record: a single
    clinic's verdict is the stream's, and judging it twice would page twice."""
    if keep <= 0:
        return {}
    kept = busiest(segments, keep)
    if len(kept) == 1 and next(iter(kept.values())).get("n", 0) == total:
        return {}
    return kept


def segment_condition(segment: str, name: str) -> str:
    """The hysteresis key of a segment's condition."""
    return f"{segment}{SEPARATOR}{name}"


def segment_state(was: Iterable[str], segment: str) -> frozenset[str]:
    """The conditions breached in ``segment``, by their names within it."""
    prefix = f"{segment}{SEPARATOR}"
    return frozenset(name[len(prefix) :] for name in was if name.startswith(prefix))


def is_segment_condition(name: str) -> bool:
    return SEPARATOR in name


def tracked_limit(segments_max: int) -> int:
    return TRACKED_PER_SEGMENT * segments_max


def segment_of(source: str | None, known: Callable[[str], bool]) -> str | None:
    """A source's segment: its name if ``known`` admits it, else ``other``; None without a
    source."""
    name = segment_name(source)
    if name is None:
        return None
    return name if known(name) else OTHER
