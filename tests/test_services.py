"""The test services themselves start, answer and stop."""

import paho.mqtt.client as mqtt
import sqlalchemy as sa


def test_mosquitto_round_trip(mosquitto):
    got = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = lambda c, u, m: got.append(m.payload)
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("t/x", qos=1)
    sub.loop_start()
    try:
        import time
        time.sleep(0.3)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        pub.connect("127.0.0.1", mosquitto.port)
        pub.loop_start()
        pub.publish("t/x", b"hello", qos=1).wait_for_publish(5)
        deadline = time.time() + 5
        while not got and time.time() < deadline:
            time.sleep(0.05)
        pub.loop_stop()
        assert got == [b"hello"]
    finally:
        sub.loop_stop()


def test_postgres_answers(postgres):
    engine = sa.create_engine(postgres.url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select 1 + 1")).scalar() == 2
    engine.dispose()
