"""The cluster id handed to Kafka's StorageTool."""

import base64

import pytest

from riskstream.errors import StackError
from riskstream.stack.kafka_broker import cluster_id_from


def test_an_id_whose_base64_would_start_with_a_dash_starts_with_a_letter() -> None:
    raw = bytes([0xF8]) + bytes(15)  # 111110.. is base64 digit 62, "-"
    assert base64.urlsafe_b64encode(raw).decode().startswith("-")
    cluster_id = cluster_id_from(raw)
    assert cluster_id[0].isalpha()
    assert len(cluster_id) == 22


@pytest.mark.parametrize("first", range(256))
def test_no_first_byte_gives_an_id_argparse_reads_as_an_option(first: int) -> None:
    cluster_id = cluster_id_from(bytes([first]) + bytes(range(15)))
    assert cluster_id[0] not in "-_"


def test_other_bytes_are_kept() -> None:
    raw = bytes(range(16))
    assert base64.urlsafe_b64decode(cluster_id_from(raw) + "==") == raw


def test_a_short_id_is_refused() -> None:
    with pytest.raises(StackError):
        cluster_id_from(b"short")
