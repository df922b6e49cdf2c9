"""--target of the HIL scenarios (hil_tests/targets/choice.py): the ESP32 budget variant."""

import pytest

from hil_tests.targets.choice import TargetError, parse_target


def test_targets_and_the_budget_option():
    assert parse_target("virtual") == ("virtual", {})
    assert parse_target("serial:/dev/ttyACM0,/dev/ttyACM1") == ("serial:/dev/ttyACM0,/dev/ttyACM1", {})
    assert parse_target("rp2040") == ("rp2040", {})
    assert parse_target("rp2040:budget=102400") == ("rp2040", {"heap_budget": 102400})


@pytest.mark.parametrize("value", ["rp2040:budget=", "rp2040:budget=1k", "rp2040:budget=100",
                                   "rp2040:heap=102400", "esp32", "rp2040:budget=-5"])
def test_a_bad_target_says_what_to_give(value):
    with pytest.raises(TargetError, match="budget=N|use virtual"):
        parse_target(value)

