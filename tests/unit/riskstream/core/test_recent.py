from riskstream.core.recent import RecentDict, recent_list


def test_recent_list_keeps_the_latest_items() -> None:
    kept = recent_list(3)
    for i in range(10):
        kept.append(i)
    assert list(kept) == [7, 8, 9]


def test_recent_dict_drops_the_oldest_insertion() -> None:
    kept: RecentDict[int, str] = RecentDict(2)
    kept[1], kept[2] = "a", "b"
    kept[1] = "a2"  # re-inserted: now the newest
    kept[3] = "c"
    assert dict(kept) == {1: "a2", 3: "c"}
    assert len(kept) == 2
