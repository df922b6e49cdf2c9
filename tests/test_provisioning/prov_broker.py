"""A real Mosquitto with an mTLS listener (fleet CA, ACL, CRL) on a private 127.0.0.1 port,
and MQTT 5 clients that connect with a station's or the hub's certificate."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as mqtt

from hil_tests.services import free_port, mosquitto_binary, wait_port
from hil_tests.timescale import scaled
from server_hub.identity import acl


class TLSMosquitto:
    def __init__(self, workdir: Path, ca_dir: Path, acl_file: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"
        self.proc = None
        listener = acl.render_listener(
            self.port, bind="127.0.0.1", cafile=ca_dir / "ca.crt", certfile=ca_dir / "broker.crt",
            keyfile=ca_dir / "broker.key", crlfile=ca_dir / "crl.pem", acl_file=acl_file)
        lines = ["user root" if os.geteuid() == 0 else "", "persistence false",
                 "log_dest file {}".format(self.log), "log_type all", listener]
        self.config.write_text("\n".join(line for line in lines if line) + "\n")

    def start(self) -> "TLSMosquitto":
        self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def reload(self) -> None:
        """SIGHUP: Mosquitto 2.0 rereads the ACL and the CRL (for new connections)."""
        self.proc.send_signal(signal.SIGHUP)
        wait_port(self.port)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Refused(Exception):
    pass


class Client:
    """An MQTT 5 client with a client certificate; records publish reason codes and messages."""

    def __init__(self, port: int, ca_file, cert_file, key_file, client_id: str):
        self.reasons: dict[int, object] = {}
        self.messages: list[tuple[str, bytes]] = []
        self._cond = threading.Condition()
        self._connack = None
        self._closed = None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)
        self.client.tls_set(ca_certs=str(ca_file), certfile=str(cert_file) if cert_file else None,
                            keyfile=str(key_file) if key_file else None,
                            cert_reqs=ssl.CERT_REQUIRED)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda c, u, mid, codes, p: self._note("subacks", mid, codes)
        self.subacks = {}
        self.port = port

    def _note(self, name, key, value):
        with self._cond:
            getattr(self, name)[key] = value
            self._cond.notify_all()

    def _on_connect(self, client, userdata, flags, reason, properties):
        with self._cond:
            self._connack = reason
            self._cond.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason, properties):
        with self._cond:
            self._closed = reason
            self._cond.notify_all()

    def _on_publish(self, client, userdata, mid, reason, properties):
        self._note("reasons", mid, reason)

    def _on_message(self, client, userdata, msg):
        with self._cond:
            self.messages.append((msg.topic, msg.payload))
            self._cond.notify_all()

    def wait(self, predicate, timeout=5.0):
        with self._cond:
            return self._cond.wait_for(predicate, scaled(timeout))

    def connect(self, timeout=5.0) -> "Client":
        """Connect; raise Refused if the broker will not have this certificate."""
        try:
            self.client.connect("127.0.0.1", self.port, keepalive=10)
        except (ssl.SSLError, ConnectionError) as exc:
            raise Refused("TLS handshake failed: {}".format(exc)) from exc
        self.client.loop_start()
        self.wait(lambda: self._connack is not None or self._closed is not None, timeout)
        if self._connack is None or self._connack.is_failure:
            self.close()
            raise Refused("no successful CONNACK (connack={}, closed={})".format(
                self._connack, self._closed))
        return self

    def publish(self, topic: str, payload: bytes, timeout=5.0):
        """QoS 1 publish; returns the PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1)
        assert self.wait(lambda: info.mid in self.reasons, timeout), "no PUBACK for " + topic
        return self.reasons[info.mid]

    def subscribe(self, topic: str, timeout=5.0):
        _, mid = self.client.subscribe(topic, qos=1)
        assert self.wait(lambda: mid in self.subacks, timeout), "no SUBACK for " + topic
        return self.subacks[mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
