# topics: the MQTT topic scheme (SPEC.md §5). One place for every topic string.
from protocol.errors import LocalProtocolError, RemoteProtocolError

PREFIX = "station/"
BATCH = "batch"
ACK = "ack"
STATUS = "status"
HEALTH = "health"
CONTROL = "control"
BLOCKED = "blocked"
SUFFIXES = (BATCH, ACK, STATUS, HEALTH, CONTROL, BLOCKED)
SHARE_GROUP = "hub"
# The broker's max_packet_size (SPEC 5): above the largest batch (batch.MAX_PAYLOAD, also the
# hub's default mqtt.max_payload) and the largest fleet chunk message (256 KiB as base64 JSON,
# ~342 KiB) with their headers. A client sending a larger packet is disconnected by the broker.
MAX_PACKET = 524288
_ALLOWED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"


def valid_station_id(station):
    if not 1 <= len(station) <= 32:
        return False
    for ch in station:
        if ch not in _ALLOWED:
            return False
    return True


def check_station_id(station):
    if not valid_station_id(station):
        raise LocalProtocolError(
            "station id {!r} is invalid: use 1-32 letters, digits, '-' or '_'".format(station))
    return station


def topic(station, suffix):
    check_station_id(station)
    if suffix not in SUFFIXES:
        raise LocalProtocolError("unknown topic suffix {!r}".format(suffix))
    return PREFIX + station + "/" + suffix


def subscription(suffix, shared=False):
    """Wildcard for the hub: station/+/<suffix>, optionally as a shared subscription."""
    filt = PREFIX + "+/" + suffix
    return "$share/" + SHARE_GROUP + "/" + filt if shared else filt


def parse(topic_name):
    """'station/S-1/batch' -> ('S-1', 'batch'); raises RemoteProtocolError otherwise."""
    parts = topic_name.split("/")
    if len(parts) != 3 or parts[0] + "/" != PREFIX or parts[2] not in SUFFIXES \
            or not valid_station_id(parts[1]):
        raise RemoteProtocolError("topic {!r} is not a tapcert station topic".format(topic_name),
                                  "bad_topic")
    return parts[1], parts[2]
