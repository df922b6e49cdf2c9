# board/unix: the virtual reader's hardware on the MicroPython unix port.
#
# Same interface as board/silicon.py (nfc, feedback, clock, watchdog, unique_id, flash,
# faults) plus the card field: taps arrive as lines "TAP <uid-hex> <kind>\n" on TCP
# 127.0.0.1:$TAPCERT_CARD_FIELD_PORT; each is answered with one JSON line, the feedback
# event ({"event": "recorded", "seq": 12, "text": "Recorded #12"}), which is also appended
# to /host/events.jsonl when /host exists. The same event goes through a real board's
# feedback path (drivers/feedback_pwm.py, no LED or buzzer) to the firmware's SSD1306
# driver and a virtual 128x32 panel (board/unix_panel.py) when the config names a file for
# its display RAM ("display_path": "/host/display.bin"): the screen a board shows, in the
# config's language. The clock has no RTC: the agent's T frame sets a base and ticks count
# on from it.
import json
import os

from drivers.rtc_clock import TicksClock

_KIND_NAMES = {"tap": 1, "in": 2, "out": 3}


class NoCardReader:
    # the unix board has no NFC chip: taps come through the card field
    kind = "virtual"
    fault = None

    def read_uid(self):
        return None


class EventFeedback:
    def __init__(self, events_path, screen=None):
        self.events_path = events_path
        self.events = []  # the last four, for tests
        self.write_errors = 0
        self.screen = screen  # PWMFeedback driving the virtual panel, or None

    def show(self, event, text=""):
        self.show_detail({"event": event, "seq": None, "text": text})

    async def run(self):
        if self.screen is not None:
            await self.screen.run()

    def show_detail(self, result):
        events = self.events
        events.append(result)
        if len(events) > 4:
            events.pop(0)
        if self.screen is not None:
            self.screen.show(result["event"], result["text"])
        path = self.events_path
        if not path:
            return
        try:
            with open(path, "a") as f:
                f.write(json.dumps(result) + "\n")
        except OSError:
            self.write_errors += 1  # no /host mounted: nothing to log to


class NullWatchdog:
    feeds = 0

    def feed(self):
        self.feeds += 1


def parse_tap(line):
    """b"TAP 04a1b2c3 1" -> (uid, kind); raises ValueError with a reason."""
    parts = line.decode().split()
    if not parts or parts[0].upper() != "TAP" or len(parts) > 3 or len(parts) < 2:
        raise ValueError("expected 'TAP <uid-hex> <kind>'")
    import binascii
    try:
        uid = binascii.unhexlify(parts[1])
    except ValueError:
        raise ValueError("card UID is not hex")
    kind = 1
    if len(parts) == 3:
        word = parts[2].lower()
        kind = _KIND_NAMES.get(word)
        if kind is None:
            try:
                kind = int(word)
            except ValueError:
                raise ValueError("tap kind must be 1, 2, 3 or tap/in/out")
    return uid, kind


class CardField:
    def __init__(self, port, host="127.0.0.1"):
        self.port = port
        self.host = host
        self.taps = 0
        self._on_tap = None

    async def serve(self, on_tap):
        # on_tap(uid, kind) -> feedback dict; serves until cancelled
        import asyncio
        self._on_tap = on_tap
        server = await asyncio.start_server(self._client, self.host, self.port)
        try:
            while True:
                await asyncio.sleep(3600)
        finally:
            server.close()

    async def _client(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                if not line.strip():
                    continue
                try:
                    uid, kind = parse_tap(line)
                except (ValueError, UnicodeError) as exc:
                    result = {"event": "error", "seq": None,
                              "text": "bad card field line: {}".format(exc)}
                else:
                    self.taps += 1
                    try:
                        result = self._on_tap(uid, kind)
                    except Exception as exc:  # never an unretrieved task error on stdout
                        result = {"event": "error", "seq": None,
                                  "text": "tap not handled: {!r}".format(exc)}
                writer.write((json.dumps(result) + "\n").encode())
                await writer.drain()
        except OSError:
            pass
        finally:
            try:
                writer.close()
                await writer.wait_closed()
            except OSError:
                pass


class Board:
    name = "unix"
    flash = "/"

    def __init__(self, config):
        self.nfc = NoCardReader()
        events = config.get("events_path")
        if events and not _dir_exists(events.rsplit("/", 1)[0] or "/"):
            events = None
        self.feedback = EventFeedback(events, _screen(config))
        self.clock = TicksClock()
        self.watchdog = NullWatchdog()
        port = os.getenv("TAPCERT_CARD_FIELD_PORT") or config.get("card_field_port")
        self.card_field = CardField(int(port)) if port else None

    def unique_id(self):
        try:
            import machine
            return bytes(machine.unique_id())
        except (ImportError, AttributeError):
            return b"unix-virtual"

    def faults(self):
        return []

    def reset(self):
        import machine
        machine.reset()


def _dir_exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _screen(config):
    # the virtual panel, when the config asks for one in a directory that exists
    path = config.get("display_path")
    if not isinstance(path, str) or not path or not _dir_exists(path.rsplit("/", 1)[0] or "/"):
        return None
    from board.unix_panel import PanelBus
    from drivers.feedback_pwm import PWMFeedback
    from drivers.ssd1306 import SSD1306
    display = SSD1306(PanelBus(path), language=config.get("language", "zh"))
    display.begin()
    return PWMFeedback(display=display)


def make_board(config):
    return Board(config)
