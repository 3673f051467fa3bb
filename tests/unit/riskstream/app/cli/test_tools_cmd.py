from riskstream.app.cli.tools_cmd import _performance_cell
from riskstream.schemas.events import PerformanceWindow
from tests.unit.schemas.samples import SAMPLES


def _window(basis: str, **fields: object) -> PerformanceWindow:
    empty = {"realized": {}, "estimated": {}, "estimate_error": {}}
    return PerformanceWindow.from_avro(
        {**SAMPLES["PerformanceWindow"], **empty, "basis": basis, **fields}
    )


def test_watch_shows_an_estimate_with_its_interval_and_a_realized_value_with_its_error() -> None:
    estimated = _window(
        "ESTIMATED",
        estimated={"roc_auc": 0.7812, "f1": 0.6},
        estimated_low={"roc_auc": 0.7521},
        estimated_high={"roc_auc": 0.8084},
    )
    assert _performance_cell(estimated, "roc_auc") == "~0.781 [0.752, 0.808]"
    assert _performance_cell(estimated, "f1") == "~0.600"  # a record from before intervals
    assert _performance_cell(estimated, "accuracy") == "-"
    realized = _window("REALIZED", realized={"f1": 0.774}, estimate_error={"f1": 0.007})
    assert _performance_cell(realized, "f1") == "0.774 (est +0.007)"
