# dual: micropython
# A damaged or hostile /config.json never stops the reader's boot: not UTF-8, not JSON, wrong
# types, zero or negative sizes each give the defaults for what is wrong and an error text for
# the health frame (found by the firmware fuzzer: a non-UTF-8 file raised UnicodeError at boot).

import config
from fwkit import Flash


def _load(flash, data):
    path = flash.root + "/config.json"
    with open(path, "wb") as f:
        f.write(data)
    return config.load(path)


def test_config_that_is_not_utf8_gives_defaults_and_says_so():
    flash = Flash()
    try:
        cfg, err = _load(flash, b'{"label": "R-\xff\xfe"}')
        assert cfg == config.DEFAULTS and "UTF-8" in err
    finally:
        flash.close()


def test_wrong_types_and_ranges_keep_the_defaults_for_those_keys_only():
    flash = Flash()
    try:
        cfg, err = _load(flash, b'{"label": "R-7", "debounce_s": "ten", "journal_capacity": -1,'
                                b' "offer_window": -3, "test_mode": 1, "journal_dir": 5,'
                                b' "segment_bytes": true, "health_s": 2.5, "pins": {"sda": 4}}')
        assert cfg["label"] == "R-7" and cfg["health_s"] == 2.5 and cfg["pins"] == {"sda": 4}
        for key in ("debounce_s", "journal_capacity", "offer_window", "test_mode",
                    "journal_dir", "segment_bytes"):
            assert cfg[key] == config.DEFAULTS[key], key
            assert key in err, (key, err)
    finally:
        flash.close()


def test_not_json_and_not_an_object_give_defaults():
    flash = Flash()
    try:
        for data in (b"{", b"[1, 2]", b"", b"null"):
            cfg, err = _load(flash, data)
            assert cfg == config.DEFAULTS and err, data
    finally:
        flash.close()


def test_a_good_config_loads_without_error():
    flash = Flash()
    try:
        cfg, err = _load(flash, b'{"label": "R-7", "station": "S-1", "test_mode": true,'
                                b' "board": "unix", "card_field_port": 4000, "events_path": null}')
        assert err is None and cfg["test_mode"] is True and cfg["card_field_port"] == 4000
        assert cfg["events_path"] is None
    finally:
        flash.close()
