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
    "journal_capacity": 10000,    # records held before "full"
    "segment_bytes": 16320,       # rotate segments at this size (4 x 4 KiB blocks)
    "warn_pct": 80,               # "warning" feedback from this fill
    "pressure_pct": 75,           # free agent-acked records from this fill
    "reserve_bytes": 32768,       # flash kept free for signing and LittleFS itself
    "offer_window": 8,            # records in flight to the agent
    "resend_ms": 3000,            # re-offer unacked records after this
    "idle_resend_ms": 60000,      # ... or this, when no agent has spoken recently
    "agent_timeout_ms": 90000,    # agent counts as present this long after its last frame
    "health_s": 30,               # health frame period
    "poll_ms": 50,                # NFC poll period on boards
    "sign_batch": 4,              # records signed per journal write
    "sign_table": "auto",         # signer's 48 KiB table: "flash", "ram", "auto" (small heap)
    "card_field_port": None,      # unix: TCP port of the card field (env overrides)
    "events_path": "/host/events.jsonl",  # unix: feedback events for tests
}


def load(path="/config.json"):
    """-> (config dict, error text or None)"""
    cfg = dict(DEFAULTS)
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return cfg, None
    try:
        got = json.loads(text)
    except ValueError:
        return cfg, "config {} is not valid JSON; using defaults".format(path)
    if not isinstance(got, dict):
        return cfg, "config {} is not a JSON object; using defaults".format(path)
    cfg.update(got)
    return cfg, None


def show(path="/config.json"):
    # for `mpremote exec "import config; config.show()"`
    cfg, err = load(path)
    print(json.dumps(cfg))
    if err:
        print(err)
