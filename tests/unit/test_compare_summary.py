"""tools/compare_summary.py: what counts as the same summary across library patch releases."""

from __future__ import annotations

from tools.compare_summary import differences


def test_numbers_to_one_millionth_and_round_off_figures_absolute() -> None:
    assert differences({"x": 1.0000009}, {"x": 1.0}) == []
    assert differences({"x": 1.00001}, {"x": 1.0}) == ["x: 1.00001 != 1.0"]
    assert differences({"err": 4.3263e-7}, {"err": 4.3267e-7}) == []  # the power flow's residual
    assert differences({"err": 2e-9}, {"err": 0.0}) != []


def test_texts_to_their_last_printed_digit_ids_exact() -> None:
    assert differences({"d": "PV cut by 0.361 MW"}, {"d": "PV cut by 0.360 MW"}) == []
    assert differences({"d": "PV cut by 0.362 MW"}, {"d": "PV cut by 0.360 MW"}) != []
    assert differences({"d": "battery block 4"}, {"d": "battery block 3"}) != []
    assert differences({"d": "PV cut by 0.360 kW"}, {"d": "PV cut by 0.360 MW"}) != []
    assert differences({"events": [{"d": "a"}]}, {"events": [{"d": "a"}, {"d": "b"}]}) == ["events: 1 items != 2"]
