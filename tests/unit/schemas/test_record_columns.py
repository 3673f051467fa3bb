"""The columnar PatientRecord decode gives what the codec's decode gives, or leaves the record
to it: on valid records, edge cases, and thousands of damaged payloads."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from riskstream.schemas import AvroCodec, CodecError
from riskstream.schemas.catalog import load_schema_json
from riskstream.schemas.patient_record import validate_record
from riskstream.schemas.record_columns import (
    NUMBERS,
    concat,
    decode_records,
    from_records,
    rule_breakers,
)
from tests.unit.schemas.samples import SAMPLES

CODEC = AvroCodec(max_payload_bytes=4096)
GOOD = SAMPLES["PatientRecord"]


def _encode(**changes: Any) -> bytes:
    return CODEC.encode("PatientRecord", {**GOOD, **changes})


EDGES = [
    _encode(),
    _encode(glucose=None, blood_pressure=None, skin_thickness=None, insulin=None, bmi=None),
    _encode(request_id="é" * 200, patient_id="患者-7", source=""),
    _encode(event_time=-(2**62), pregnancies=-(2**31), age=2**31 - 1),
    _encode(glucose=float("nan"), pedigree=float("inf"), bmi=-0.0),
]


def _same(taken: list[int], columns: Any, payloads: list[Any]) -> None:
    for row, i in enumerate(taken):
        got, want = (
            columns.record(row),
            CODEC.decode(payloads[i], "PatientRecord", times_as_ms=True),
        )
        assert list(got) == list(want), f"payload {i}: fields differ"
        for name in want:
            a, b = got[name], want[name]
            nan = isinstance(b, float) and math.isnan(b)
            assert (nan and math.isnan(a)) or (a == b and type(a) is type(b)), (i, name, a, b)


def test_valid_records_are_taken_and_decode_as_the_codec_decodes_them() -> None:
    columns, taken, left = decode_records(CODEC, EDGES)
    assert taken == list(range(len(EDGES))) and left == []
    _same(taken, columns, EDGES)


def test_whatever_the_codec_refuses_is_left_to_it() -> None:
    shipped = load_schema_json("PatientRecord")
    note = {"name": "note", "type": ["null", "string"], "default": None}
    other = {**shipped, "fields": [*shipped["fields"], note]}
    older = AvroCodec(reader_schemas={"PatientRecord": other}).encode("PatientRecord", GOOD)
    good = _encode()
    damaged: list[bytes | None] = [
        None,
        b"",
        b"\x01" + good[1:],  # wrong magic byte
        good[:5],  # a header alone
        good + b"\x00",  # trailing byte
        good[:-1],  # truncated
        older,  # another schema id: the codec resolves it
        _encode(request_id="x" * 5000),  # over the size limit
        good[:5] + b"\x7f" + good[6:],  # a string length past the end
        good[:5] + b"\x04\xc3\x28" + good[7:],  # invalid UTF-8 in the request id
    ]
    columns, taken, left = decode_records(CODEC, damaged)
    assert taken == [] and left == list(range(len(damaged)))
    assert len(columns) == 0


def test_thousands_of_damaged_payloads_are_decoded_as_the_codec_does_or_left() -> None:
    rng = np.random.default_rng(7)
    payloads: list[bytes | None] = []
    for _ in range(3000):
        data = bytearray(EDGES[rng.integers(len(EDGES))])
        for _ in range(rng.integers(1, 4)):
            data[rng.integers(5, len(data))] = rng.integers(256)
        if rng.random() < 0.2:
            data = data[: rng.integers(5, len(data) + 1)]
        payloads.append(bytes(data))
    columns, taken, left = decode_records(CODEC, payloads)
    assert sorted(taken + left) == list(range(len(payloads)))
    refused = 0
    for i in left:
        try:
            CODEC.decode(payloads[i], "PatientRecord", times_as_ms=True)
        except CodecError:
            refused += 1
    assert refused > 1000  # the damage the codec refuses is left, and it refuses plenty
    _same(taken, columns, payloads)  # what was taken decodes as the codec decodes it
    assert len(taken) > 500


def test_every_row_validate_record_refuses_is_flagged() -> None:
    rng = np.random.default_rng(3)
    records = []
    for _ in range(2000):
        record = dict(GOOD)
        for name in NUMBERS:
            draw = rng.random()
            if draw < 0.1:
                record[name] = float("nan") if name not in ("pregnancies", "age") else -1
            elif draw < 0.2:
                record[name] = float(rng.normal(0, 1000))
            elif draw < 0.3 and name in ("glucose", "bmi", "insulin"):
                record[name] = None
        records.append(record)
    flagged = rule_breakers(from_records(records)).tolist()
    refused = [validate_record(r) is not None for r in records]
    assert all(f for f, r in zip(flagged, refused, strict=True) if r)
    assert flagged == refused  # and nothing more, on these fields
    assert 200 < sum(refused) < 2000


def test_rows_taken_and_concatenated_keep_their_fields() -> None:
    first = from_records([{**GOOD, "request_id": "a"}, {**GOOD, "request_id": "b", "bmi": None}])
    second = from_records([{**GOOD, "request_id": "c"}])
    both = concat(first, second).take([2, 0, 1])
    assert both.request_ids == ["c", "a", "b"]
    assert both.record(2)["bmi"] is None and both.record(1)["bmi"] == GOOD["bmi"]


@pytest.mark.parametrize("count", [0, 1])
def test_tiny_batches(count: int) -> None:
    columns, taken, left = decode_records(CODEC, EDGES[:count])
    assert len(columns) == count == len(taken) and left == []
