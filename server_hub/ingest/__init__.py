"""ingest: batches from the stations to the ledger — the links (MQTT with a per-station fair
queue, NATS JetStream with N workers), station messages, the blocked-card list, and the
pipeline that runs core/ decisions in one transaction per batch (or per group of batches).

    pipeline.py     one batch = one transaction; per-reader then per-learner locks
    groupcommit.py  several batches in one transaction (Pipeline.handle_batches)
    mqttlink.py     Mosquitto subscriber (paho) feeding the pipeline through fairqueue.py
    natslink.py     JetStream consumer; workers.py supervises N hub processes
    stationmsg.py   station health / status messages into evidence tables
    blocklist.py    the blocked-card list published to stations
    auditor.py      background check of every stored record's own signature (alarms)

May import: core/, store/, server_hub.errors/config, protocol/.
"""
