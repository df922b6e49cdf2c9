"""The blocked-card list at the station (SPEC §4.6): the hub's retained message is kept in the
queue database and forwarded to every reader as B frames — on a new version, when a reader's
link comes up or it reboots without the list, and after a restart without the network."""

import binascii
import time

import paho.mqtt.publish as mqtt_publish

from agent.blocked import BlockedSender
from protocol import blocklist, link

from .hubstub import wait_until

TOPIC = "station/S-0001/blocked"


def uids(n, first=1):
    return [bytes([4, 0xB1, (i >> 8) & 0xFF, i & 0xFF]) for i in range(first, first + n)]


def publish_list(port, version, cards, retain=True):
    mqtt_publish.single(TOPIC, blocklist.encode_list(version, cards), qos=1, retain=retain,
                        hostname="127.0.0.1", port=port)


def fresh_health(agent, reader):
    """Make the reader send a health frame and wait until the agent has handled it."""
    before = agent.core.readers[reader.reader_id].health_at
    reader.health_now()
    wait_until(lambda: agent.core.readers[reader.reader_id].health_at != before, 5,
               what="health handled")
    time.sleep(0.3)   # whatever the agent wrote in answer has reached the reader


def clear_retained(port):
    mqtt_publish.single(TOPIC, b"", qos=1, retain=True, hostname="127.0.0.1", port=port)


# -- when a reader gets the list (pure) ---------------------------------------------------

def test_sender_decides_from_the_readers_own_report():
    s = BlockedSender(resend_s=60)
    assert not s.due(b"r", "p", 1, 0, 0, 0.0)                # no list yet: nothing to send
    message = blocklist.encode_list(5, uids(3))
    assert s.accept(message).version == 5
    assert s.accept(message) is None                          # the same version again
    assert s.accept(blocklist.encode_list(4, uids(1))) is None  # an older one
    crc = binascii.crc32(message[blocklist.HEADER:]) & 0xFFFFFFFF
    assert not s.due(b"r", "p", 1, 3, crc, 0.0)              # it holds exactly this list
    assert s.due(b"r", "p", 1, 0, 0, 0.0)
    s.sent(b"r", "p", 1, 0.0)
    assert not s.due(b"r", "p", 1, 0, 0, 10.0)               # just sent: wait for it
    assert s.due(b"r", "p", 1, 0, 0, 61.0)                   # still lacks it: again
    assert s.due(b"r", "p", 2, 0, 0, 11.0)                   # rebooted without it
    assert s.due(b"r", "q", 1, 0, 0, 11.0)                   # link came up again
    assert s.due(b"o", "p", 1, None, None, 0.0)              # older firmware: once ...
    s.sent(b"o", "p", 1, 0.0)
    assert not s.due(b"o", "p", 1, None, None, 999.0)        # ... per version, port and boot
    s.accept(blocklist.encode_list(6, uids(2)))
    assert s.due(b"o", "p", 1, None, None, 999.0)
    assert [line[:3] for line in s.current.lines] == [b"~B:"]


def test_a_long_list_goes_as_one_replace_then_adds():
    s = BlockedSender()
    s.accept(blocklist.encode_list(1, uids(1000)))
    # 16 cards a frame (blocklist.FRAME_ENTRIES), so each line fits an ESP32's 260-byte
    # console buffer: 1,000 cards are 63 lines, the first a replace.
    assert len(s.current.lines) == 63
    assert all(len(line) <= link.MAX_LINE_TO_READER for line in s.current.lines)


# -- through the real agent ---------------------------------------------------------------

def test_readers_get_the_list_and_every_new_version(mosquitto, fake_readers, hub_stub,
                                                    agent_config, inproc_agent):
    hub_stub()
    r1, r2 = fake_readers("r1"), fake_readers("r2")
    clear_retained(mosquitto.port)
    publish_list(mosquitto.port, 100, uids(50))
    agent = inproc_agent(agent_config(ports=[r1.port, r2.port]))
    for r in (r1, r2):
        wait_until(lambda r=r: r.blocked_uids() == uids(50), 15, what="list at " + r.label)
    publish_list(mosquitto.port, 101, uids(3, first=40))
    for r in (r1, r2):
        wait_until(lambda r=r: r.blocked_uids() == uids(3, first=40), 15, what="new version")
    frames = r1.counts["blocked_frames"]
    fresh_health(agent, r1)                                   # it holds the list: no resend
    assert r1.counts["blocked_frames"] == frames
    r1.reboot(keep_blocked=False)                             # flash lost: it gets it again
    wait_until(lambda: r1.blocked_uids() == uids(3, first=40), 15, what="list after reboot")
    assert agent.core.stats["blocked_lists_sent"] >= 5
    publish_list(mosquitto.port, 99, uids(7))                 # older than what we have
    time.sleep(0.5)
    fresh_health(agent, r2)
    assert r2.blocked_uids() == uids(3, first=40)
    assert agent.core.blocked.current.version == 101
    clear_retained(mosquitto.port)


def test_the_list_is_kept_for_readers_that_come_while_the_hub_is_away(
        mosquitto, fake_readers, hub_stub, agent_config, inproc_agent, tmp_path):
    hub_stub()
    clear_retained(mosquitto.port)
    publish_list(mosquitto.port, 7, uids(40))
    r1 = fake_readers("r1")
    config = agent_config(ports=[r1.port, str(tmp_path / "r2")])
    agent = inproc_agent(config)
    wait_until(lambda: r1.blocked_uids() == uids(40), 15, what="list at r1")
    agent.stop()
    clear_retained(mosquitto.port)                            # the broker forgot it
    r2 = fake_readers("r2", report_blocked=False)             # an older firmware
    agent = inproc_agent(config)
    wait_until(lambda: r2.blocked_uids() == uids(40), 15, what="list from the queue")
    assert agent.core.blocked.current.version == 7
    frames = r2.counts["blocked_frames"]
    fresh_health(agent, r2)
    assert r2.counts["blocked_frames"] == frames              # once per version and boot


def test_a_malformed_list_is_refused_and_the_old_one_kept(mosquitto, fake_readers, hub_stub,
                                                          agent_config, inproc_agent):
    hub_stub()
    clear_retained(mosquitto.port)
    publish_list(mosquitto.port, 3, uids(2))
    r1 = fake_readers("r1")
    agent = inproc_agent(agent_config(ports=[r1.port]))
    wait_until(lambda: r1.blocked_uids() == uids(2), 15, what="list")
    mqtt_publish.single(TOPIC, b"TL\x01\x00\x09\x00\x00\x00\x05\x00short", qos=1,
                        hostname="127.0.0.1", port=mosquitto.port)
    wait_until(lambda: agent.core.stats["blocked_lists_rejected"] == 1, 10, what="rejection")
    assert agent.core.blocked.current.version == 3 and r1.blocked_uids() == uids(2)
    clear_retained(mosquitto.port)
