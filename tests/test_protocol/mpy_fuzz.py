# Mutation fuzzer for the protocol decoders, run inside the micropython binary.
# usage: micropython tests/test_protocol/mpy_fuzz.py CASES SEED
# Every input must decode or raise ProtocolError; prints "fuzz: N cases, K decoded" and
# exits 1 on the first other exception (printing the input hex).
import json
import random
import sys
from binascii import hexlify, unhexlify

import protocol
from protocol import batch, link, record
from protocol.errors import ProtocolError

_DIR = protocol.__file__.rsplit("/", 1)[0] + "/vectors/"


def _load(name):
    with open(_DIR + name) as f:
        return json.load(f)


def _link_stream(data):
    dec = link.LinkDecoder()
    dec.feed(data)
    for _ in range(len(data) + 2):
        try:
            if dec.next_message() is link.NEED_DATA:
                return
        except ProtocolError:
            pass
    raise RuntimeError("link decoder did not drain")


def mutate(data):
    data = bytearray(data)
    for _ in range(random.randint(0, 6)):
        op = random.randint(0, 3)
        pos = random.randint(0, len(data))
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = random.getrandbits(8)
        elif op == 1:
            data[pos:pos] = bytes(random.getrandbits(8) for _ in range(random.randint(1, 8)))
        elif op == 2:
            data[pos:pos + random.randint(1, 8)] = b""
        else:
            data = data[:pos]
    return bytes(data)


def main():
    cases = int(sys.argv[1])
    random.seed(int(sys.argv[2]))
    recs = [unhexlify(v["encoded"]) for v in _load("records.json")["valid"]]
    b = _load("batch.json")
    lines = [v["line"].encode() for v in _load("link.json")["valid"]]
    targets = [
        (record.decode, recs),
        (batch.decode_batch, [unhexlify(v["hex"]) for v in b["valid_batches"]]),
        (batch.decode_ack, [unhexlify(a["hex"]) for a in b["valid_acks"]]),
        (_link_stream, [b"".join(lines)] + lines),
    ]
    decoded = 0
    for i in range(cases):
        fn, seeds = targets[i % len(targets)]
        data = mutate(seeds[random.randint(0, len(seeds) - 1)])
        try:
            fn(data)
            decoded += 1
        except ProtocolError:
            pass
        except Exception as exc:
            print("CRASH", type(exc).__name__, exc, hexlify(data))
            sys.exit(1)
    print("fuzz: {} cases, {} decoded".format(cases, decoded))


main()
