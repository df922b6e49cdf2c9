"""Reader health frames are parsed defensively: wrong types are ignored, never raised on."""

from agent.readers import HealthReport, ReaderState


def test_a_good_report_updates_the_state():
    report = HealthReport({"rid": "00112233445566aa", "fw": "0.1.0", "label": "R-0007",
                           "station": "S-0001", "time": 1_800_000_010, "agent_wm": 5, "hub_wm": 3,
                           "jfill": 4, "pk": "ab" * 32})
    assert report.rid == bytes.fromhex("00112233445566aa")
    assert (report.agent_wm, report.hub_wm, report.station) == (5, 3, "S-0001")
    state = ReaderState(report.rid)
    report.apply(state, now=1_800_000_000.0, mono=42.0)
    assert state.label == "R-0007" and state.clock_offset_s == 10.0 and state.health_at == 42.0
    assert state.health == {"fw": "0.1.0", "label": "R-0007", "jfill": 4}  # no pk kept


def test_garbage_fields_are_ignored():
    for rid in (None, 7, "zz", "0011", "00112233445566aa00"):
        assert HealthReport({"rid": rid}).rid is None
    report = HealthReport({"rid": "00112233445566aa", "agent_wm": -1, "hub_wm": True,
                           "time": "noon", "label": 5, "station": ""})
    assert report.agent_wm is None and report.hub_wm is None and report.reader_time is None
    assert report.label is None and report.station is None
    state = ReaderState(report.rid)
    report.apply(state, now=1.0, mono=1.0)
    assert state.clock_offset_s is None and state.label is None
