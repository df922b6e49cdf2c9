# config: the reader's settings in /config.json (written at provisioning), over defaults.
#
# Unknown keys are kept (the board layer reads its pin map from the same file). A file that
# is missing or not valid JSON gives the defaults and an error text for the health frame.
import json

DEFAULTS = {
    "label": "",              # human label, e.g. "R-0007" (the hub's registry owns it)
    "station": "",            # station id, e.g. "S-0001"
    "board": None,            # "unix", "esp32", "rp2"; None = from sys.platform
    "debounce_s": 10,         # same card again within this window: "Already recorded"
    "test_mode": False,       # accept taps injected by the agent's I frame
    "auto_keygen": False,     # generate the key at first boot (virtual bench readers)
    "journal_dir": "/data/journal",
    "journal_capacity": 0,        # records held before "full"; 0: as many as the flash holds
    "segment_bytes": 16320,       # rotate segments at this size (4 x 4 KiB blocks)
    "warn_pct": 80,               # "warning" feedback from this fill
    "pressure_pct": 75,           # free agent-acked records from this fill
    "reserve_bytes": 32768,       # flash kept free for signing and LittleFS itself
    "raw_pages": 128,             # 256-byte pages of the raw tap log (rawlog.py); 0: none
    "offer_window": 8,            # records in flight to the agent
    "resend_ms": 3000,            # re-offer unacked records after this
    "idle_resend_ms": 60000,      # ... or this, when no agent has spoken recently
    "agent_timeout_ms": 90000,    # agent counts as present this long after its last frame
    "health_s": 30,               # health frame period
    "poll_ms": 50,                # NFC poll period on boards
    "sign_batch": 4,              # records signed before they go to the journal
    "flush_records": 16,          # signed records per segment write (fewer block erases)
    "flush_s": 5,                 # ... or after this long without a new signature
    "wm_records": 8,              # watermark movement written at once (else with a flush)
    "quiet_ms": 200,              # flash work (segment writes, erases) waits this long after a tap
    "sign_table": "auto",         # signer's 48 KiB table: "flash", "ram", "auto" (small heap)
    "card_field_port": None,      # unix: TCP port of the card field (env overrides)
    "events_path": "/host/events.jsonl",  # unix: feedback events for tests
    "language": "zh",             # display text: "zh" (Chinese phrases) or "en"
    "display_path": None,         # unix: file for the virtual panel's RAM (None: no panel)
}


# numbers that must be above 0 (0 would divide by zero or stall a task)
_POSITIVE = ("segment_bytes", "offer_window", "resend_ms", "idle_resend_ms",
             "flush_records", "flush_s", "wm_records",
             "agent_timeout_ms", "health_s", "poll_ms", "sign_batch")


def load(path="/config.json"):
    """-> (config dict, error text or None)"""
    cfg = dict(DEFAULTS)
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return cfg, None
    except ValueError:  # UnicodeError: not UTF-8 (a damaged file must not stop the boot)
        return cfg, "config {} is not valid UTF-8; using defaults".format(path)
    try:
        got = json.loads(text)
    except ValueError:
        return cfg, "config {} is not valid JSON; using defaults".format(path)
    if not isinstance(got, dict):
        return cfg, "config {} is not a JSON object; using defaults".format(path)
    bad = []
    for key, value in got.items():
        if _fits(key, value):
            cfg[key] = value
        else:
            bad.append(key)
    if bad:
        return cfg, "config {}: wrong type or range for {}; using the defaults for them".format(
            path, ", ".join(sorted(bad)))
    return cfg, None


def _fits(key, value):
    # a known key keeps its default's type (ints and floats mix); unknown keys are kept
    if key not in DEFAULTS:
        return True
    default = DEFAULTS[key]
    if default is None:
        return True
    if value is None:
        return key == "events_path"  # null: no feedback event log
    if key == "language":
        return value in ("zh", "en")
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return value > 0 if key in _POSITIVE else value >= 0
    return isinstance(value, type(default))


def show(path="/config.json"):
    # for `mpremote exec "import config; config.show()"`
    cfg, err = load(path)
    print(json.dumps(cfg))
    if err:
        print(err)
