# dual: micropython
# App.run(): the asyncio tasks together on MicroPython: an NFC front end polled (a card
# resting on the reader is one tap), the signer, the link pump over a stream (a loopback
# socket standing in for the USB console), the watchdog. MicroPython only (the pump uses
# MicroPython's asyncio stream API on the console): on CPython this file defines no tests.
import sys

MICROPYTHON = sys.implementation.name == "micropython"

from fwkit import ScriptedNFC  # noqa: E402


def _listen():
    # a loopback listener on a free private port (MicroPython sockets have no getsockname)
    import os
    import socket
    start = 42000 + (os.urandom(2)[0] << 4)
    for port in range(start, start + 64):
        s = socket.socket()
        try:
            s.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
            s.listen(1)
            return s, port
        except OSError:
            s.close()
    raise OSError("no free port")


def _micropython_only():
    if not MICROPYTHON:  # LittleFS and MicroPython's asyncio: the [micropython] item runs it
        raise __import__("unittest").SkipTest("MicroPython only")


def test_tasks_poll_the_card_sign_and_offer_over_the_console():
    _micropython_only()
    import asyncio
    import socket
    from fwkit import Flash, make_app, uid
    from protocol import link
    from protocol import record as rec

    flash = Flash()
    server, port = _listen()
    agent = socket.socket()
    console = None
    try:
        app = make_app(flash, poll_ms=5, debounce_s=10, health_s=0.05)
        # the card rests for three polls, a bus error, card 2, card 1 again (debounced)
        app.board.nfc = ScriptedNFC([None, uid(1), uid(1), uid(1), None, OSError(5),
                                     uid(2), None, uid(1), None])
        agent.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
        console, _ = server.accept()
        agent.setblocking(False)
        frames = []

        async def agent_side():
            decoder = link.LinkDecoder()
            stream = asyncio.StreamReader(agent)
            agent.write(link.encode(link.QUERY))
            while len([f for f in frames if f.type == "R"]) < 2:
                data = await stream.read(1)
                decoder.feed(data)
                while True:
                    m = decoder.next_message()
                    if m is link.NEED_DATA:
                        break
                    frames.append(m)
            agent.write(link.encode_ack(app.reader_id, 2, 2))
            await asyncio.sleep_ms(100)

        async def main():
            firmware = asyncio.create_task(app.run(console, console))
            try:
                await asyncio.wait_for_ms(agent_side(), 5000)
            finally:
                firmware.cancel()

        asyncio.run(main())
        records = [rec.decode(f.body) for f in frames if f.type == "R"]
        assert [(r.seq, r.uid) for r in records] == [(1, uid(1)), (2, uid(2))]
        assert any(f.type == "H" for f in frames)
        events = [e["event"] for e in app.board.feedback.events]
        assert events[-3:] == ["recorded", "recorded", "duplicate"], events
        assert app.journal.agent_wm == 2 and app.journal.hub_wm == 2
        assert app.board.watchdog.feeds >= 1
    finally:
        if console is not None:
            console.close()
        agent.close()
        server.close()
        flash.close()

def test_watchdog_is_fed_only_while_taps_and_link_make_progress():
    _micropython_only()
    # issue 16: the watchdog had its own task feeding it, so a dead link task never
    # reset the reader. Here the NFC task polls but no link pump runs: no feed, until
    # the link beats.
    import asyncio
    from fwkit import Flash, make_app

    flash = Flash()
    try:
        app = make_app(flash, poll_ms=5)
        app.board.nfc = ScriptedNFC([])
        app._beats = {"link": False, "taps": False}
        polled = []

        async def main():
            tasks = [asyncio.create_task(app._nfc()), asyncio.create_task(app._watchdog())]
            while len(polled) < 60:  # >= 5 watchdog rounds of 100 ms with polls going on
                polled.append(app._beats["taps"])
                await asyncio.sleep_ms(10)
            stalled = app.board.watchdog.feeds
            for _ in range(30):
                app.alive("link")
                await asyncio.sleep_ms(10)
            for t in tasks:
                t.cancel()
            return stalled

        stalled = asyncio.run(main())
        assert any(polled) and stalled == 0
        assert app.board.watchdog.feeds >= 1
    finally:
        flash.close()
