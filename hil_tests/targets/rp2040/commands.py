"""What a person types to the emulated Pico while `python -m hil_tests.targets.rp2040` runs:
hold a card to it, a phone, two cards, take power away... one line each, answered in words.

    parse(line)          -> (verb, args) or raises ValueError saying what was wrong
    run(reader, verb, args) -> the line to print (the reader's feedback as its LED and buzzer
                            gave it, or what was done)

Sans-I/O apart from `run`, which only calls RP2040Reader's own methods (the same the tests use).
"""

from __future__ import annotations

HELP = """commands (one per line):
  tap UID [HOLD_MS]   hold a card (hex UID, 4/7/10 bytes) until the reader answers, then take it
                      away; HOLD_MS: it leaves by itself after that much emulated time
  rest UID            put a card on the reader and leave it there (remove takes it)
  remove              take away whatever rests on the reader
  two UID UID         two cards in the field at once
  phone               a phone (random UID 08 xx xx xx)
  silent on|off       the NFC chip stops answering its bus (a loose cable), or answers again
  cut | on | reset    power off, power on, the reset button (flash kept)
  status              the emulator's state (powered, booted, emulated time, NFC searches)
  help                this text"""

_UID_LENGTHS = (4, 7, 10)


def _uid(text: str) -> bytes:
    try:
        uid = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a card UID: give hex digits, e.g. 04a1b2c3d4e5f6") from None
    if len(uid) not in _UID_LENGTHS:
        raise ValueError(f"a card UID has 4, 7 or 10 bytes; {text!r} has {len(uid)}")
    return uid


def _ms(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 600_000:          # also refuses nan and inf
        raise ValueError(f"HOLD_MS {text!r}: give milliseconds, 1 to 600000")
    return value


def parse(line: str) -> tuple[str, dict]:
    words = line.split()
    if not words:
        return "", {}
    verb, rest = words[0].lower(), words[1:]
    arity = {"tap": (1, 2), "rest": (1, 1), "remove": (0, 0), "two": (2, 2), "phone": (0, 0),
             "silent": (1, 1), "cut": (0, 0), "on": (0, 0), "reset": (0, 0), "status": (0, 0),
             "help": (0, 0)}
    if verb not in arity:
        raise ValueError(f"unknown command {verb!r}; type help for the list")
    low, high = arity[verb]
    if not low <= len(rest) <= high:
        raise ValueError(f"{verb} takes {low if low == high else f'{low} or {high}'} "
                         f"argument(s); type help")
    if verb == "tap":
        return verb, {"uid": _uid(rest[0]), "hold_ms": _ms(rest[1]) if len(rest) > 1 else None}
    if verb == "rest":
        return verb, {"uid": _uid(rest[0])}
    if verb == "two":
        return verb, {"uids": [_uid(rest[0]), _uid(rest[1])]}
    if verb == "silent":
        if rest[0].lower() not in ("on", "off"):
            raise ValueError("silent on, or silent off")
        return verb, {"on": rest[0].lower() == "on"}
    return verb, {}


def _feedback(ev: dict) -> str:
    if not ev.get("event"):
        return "no feedback (the card left before the reader read it, or the chip is silent)"
    seq = f" seq {ev['seq']}" if ev.get("seq") is not None else ""
    return f"{ev['event']}{seq}: {ev.get('text') or ''}".rstrip(": ")


def run(reader, verb: str, args: dict) -> str:
    if verb == "":
        return ""
    if verb == "help":
        return HELP
    if verb == "tap":
        return _feedback(reader.tap(args["uid"], hold_ms=args["hold_ms"]))
    if verb == "phone":
        return _feedback(reader.tap(phone=True))
    if verb == "two":
        first, second = args["uids"]
        return _feedback(reader.tap(first, also=[second]))
    if verb == "rest":
        reader.present(args["uid"])
        return f"card {args['uid'].hex()} rests on the reader (remove takes it)"
    if verb == "remove":
        reader.remove()
        return "the field is empty"
    if verb == "silent":
        reader.nfc_silent(args["on"])
        return "the NFC chip is silent" if args["on"] else "the NFC chip answers again"
    if verb == "cut":
        reader.power_cut()
        return "power off (flash as it was at that instant)"
    if verb == "on":
        reader.power_on()
        return "power on: booted"
    if verb == "reset":
        reader.reset()
        return "reset: booted again"
    s = reader.status()
    return ", ".join(f"{k} {s[k]}" for k in ("powered", "booted", "emulated_us", "nfc_searches")
                     if k in s)
