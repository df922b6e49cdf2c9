# A stand-in main.py for the virtual-reader tests (not the real firmware).
# Console: one command per line -> "echo N TEXT", "reset" (machine.reset()),
# "soft" (machine.soft_reset()), "churn" (rewrite /data.txt forever).
# Card field: the contract of hil_tests/targets/cardfield.py on
# 127.0.0.1:TAPCERT_CARD_FIELD_PORT, events appended to /host/events.jsonl.
import json
import os
import select
import socket
import sys

import machine

print("standin: boot cause", machine.reset_cause())
seq = 0
count = 0


def churn():
    n = 0
    while True:
        n += 1
        body = "{}:{}\n".format(n, "x" * (n % 700))
        with open("data.txt", "w") as f:
            f.write(body * 3)


def card_server():
    port = os.getenv("TAPCERT_CARD_FIELD_PORT")
    if not port:
        return None
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(socket.getaddrinfo("127.0.0.1", int(port))[0][-1])
    s.listen(2)
    return s


def on_tap(client):
    global seq
    line = client.readline().decode().split()
    seq += 1
    event = {"event": "recorded", "seq": seq, "text": "Recorded #{}".format(seq),
             "uid": line[1], "kind": int(line[2])}
    text = json.dumps(event)
    with open("/host/events.jsonl", "a") as f:
        f.write(text + "\n")
    client.write((text + "\n").encode())
    client.close()


server = card_server()
poller = select.poll()
poller.register(sys.stdin, select.POLLIN)
if server is not None:
    poller.register(server, select.POLLIN)
while True:
    for obj, _ in poller.poll(-1):
        if obj is server:
            client, _ = server.accept()
            on_tap(client)
            continue
        line = sys.stdin.readline().strip()
        if line == "reset":
            machine.reset()
        elif line == "soft":
            machine.soft_reset()
        elif line == "churn":
            print("churning")
            churn()
        else:
            count += 1
            print("echo", count, line)
