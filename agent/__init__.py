# tapcert station agent: readers -> durable SQLite queue -> MQTT sync to the hub.
# See docs/agent.md; the theory of operation is in agent/service.py.
__version__ = "0.1.0"
