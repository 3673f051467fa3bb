from collections import Counter

from riskstream.models.monitoring.segments import (
    OTHER,
    busiest,
    judged_segments,
    segment_condition,
    segment_name,
    segment_of,
    segment_state,
    split_segments,
    with_segments,
)
from riskstream.models.monitoring.windows import Observation, count_fields, histograms
from tests.unit.models.monitoring.test_windows import REFERENCE


def test_segment_names_cannot_break_the_field_grammar() -> None:
    assert segment_name("clinic|a:b") == "clinic_a_b"
    assert segment_name("") is None and segment_name(None) is None
    assert len(segment_name("x" * 500) or "") == 64


def test_segment_fields_prefix_each_segments_counts() -> None:
    items = [("a", 1), ("b", 2), ("a", 3), (None, 4)]
    fields = with_segments(
        items, lambda i: i[0], lambda g: Counter(n=len(g), v=sum(x for _, x in g))
    )
    whole = Counter({"n": 4, "v": 10})
    assert fields == whole + Counter({"a|n": 2, "a|v": 4, "b|n": 1, "b|v": 2})


def test_split_then_busiest_keeps_the_top_and_adds_the_rest_into_other() -> None:
    values = {
        "n": 100,
        "a|n": 50, "a|f:g:1": 50,
        "b|n": 30, "b|f:g:1": 30,
        "c|n": 15, "c|f:g:2": 15,
        "other|n": 5, "other|f:g:2": 5,
    }  # fmt: skip
    whole, segments = split_segments(values)
    assert whole == {"n": 100}
    kept = busiest(segments, keep=1)
    assert kept == {"a": {"n": 50, "f:g:1": 50}, OTHER: {"n": 50, "f:g:1": 30, "f:g:2": 20}}
    assert sum(s["n"] for s in kept.values()) == whole["n"]
    assert set(busiest(segments, keep=5)) == {"a", "b", "c", OTHER}


def test_ties_in_size_are_broken_by_name_so_every_worker_picks_the_same() -> None:
    segments = {"z": {"n": 10}, "y": {"n": 10}, "x": {"n": 10}}
    assert list(busiest(segments, keep=2)) == ["x", "y", OTHER]


def test_segment_state_reads_back_what_segment_condition_wrote() -> None:
    was = {segment_condition("clinic-1", "glucose"), "glucose", segment_condition("c2", "volume")}
    assert segment_state(was, "clinic-1") == frozenset({"glucose"})
    assert segment_state(was, "clinic") == frozenset()


def test_admitted_sources_keep_their_name_and_the_rest_are_other() -> None:
    known = {"clinic-1"}
    found = [segment_of(s, known.__contains__) for s in ("clinic-1", "clinic-9", None)]
    assert found == ["clinic-1", OTHER, None]


def test_a_window_counts_each_segment_as_exactly_as_the_whole() -> None:
    reference = REFERENCE
    group = [
        Observation(0, i, 0, {"glucose": 90.0 + i, "bmi": 25.0}, 0.2, (), 0, f"c{i % 3}")
        for i in range(30)
    ]
    fields = count_fields(group, reference)
    whole, segments = split_segments(dict(fields))
    assert sorted(segments) == ["c0", "c1", "c2"]
    assert all(s["n"] == 10 for s in segments.values())
    total = histograms(whole, reference)
    parts = [histograms(s, reference) for s in segments.values()]
    for feature, counts in total.features.items():
        assert [sum(p.features[feature][b] for p in parts) for b in range(len(counts))] == counts
    assert not any(k.startswith("c") and "|c:" in k for k in fields)  # no estimate per segment


def test_a_window_from_one_clinic_is_judged_once_as_the_stream() -> None:
    one = {"clinic-a": {"n": 40}}
    assert judged_segments(one, keep=10, total=40) == {}
    assert judged_segments(one, keep=10, total=50) == {"clinic-a": {"n": 40}}  # others lack one
    two = {"a": {"n": 30}, "b": {"n": 10}}
    assert set(judged_segments(two, keep=10, total=40)) == {"a", "b"}
    assert judged_segments(two, keep=0, total=40) == {}


def _reference_fields(group: list[Observation], reference: dict) -> Counter[str]:
    """The definition, one group at a time: what count_fields computes in one pass."""
    import numpy as np

    from riskstream.models.features import inputs_of
    from riskstream.models.reference import bin_index

    fields: Counter[str] = Counter()
    if not group:
        return fields
    fields["n"] = len(group)
    for name, hist in reference["features"].items():
        for o in group:
            value = o.features.get(name, np.nan)
            if any(i in o.missing for i in inputs_of(name)) or value != value:
                continue
            fields[f"f:{name}:{int(bin_index(hist['edges'], np.array([value]))[0])}"] += 1
    for o in group:
        for name in o.missing:
            fields[f"m:{name}"] += 1
        fields[f"s:{int(bin_index(reference['score']['edges'], np.array([o.risk]))[0])}"] += 1
    return fields


def test_one_pass_counts_equal_the_definition_per_segment() -> None:
    import random

    from riskstream.models.monitoring.estimation import estimate_fields

    rng = random.Random(4)
    group = []
    for i in range(300):
        missing = tuple(n for n in ("bmi", "glucose") if rng.random() < 0.2)
        group.append(
            Observation(
                0,
                i,
                0,
                {"glucose": rng.uniform(40, 250), "bmi": rng.uniform(15, 60)},
                rng.random(),
                missing,
                int(rng.random() < 0.4),
                rng.choice(["c0", "c1", "c2", None]),
            )
        )
    expected = _reference_fields(group, REFERENCE)
    expected.update(estimate_fields((o.risk, o.decided) for o in group))
    for segment in ("c0", "c1", "c2"):
        part = _reference_fields([o for o in group if o.segment == segment], REFERENCE)
        expected.update({f"{segment}|{k}": v for k, v in part.items()})
    assert count_fields(group, REFERENCE) == expected
