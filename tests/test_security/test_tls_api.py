"""Issue 18, finding 5: the hub's API speaks HTTPS with its own CA's certificate.

A real `tapcert-hub init` + `run` (Mosquitto beside it) with no TLS settings at all serves
https://127.0.0.1:PORT with ca/api.crt (SANs localhost, 127.0.0.1, the host name): a client
without the hub's CA file is refused (certificate not trusted), one with it gets its answers;
the provisioning tool's client says what to do without `--ca` and works with it. Plain HTTP is
refused at start on a non-loopback bind, with the reason. (Every other test's hub runs plain
HTTP on 127.0.0.1, configured explicitly: TAPCERT_HUB_API_PLAIN_HTTP in tests/conftest.py,
which this file removes.)"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from hil_tests.services import Mosquitto, free_port
from hil_tests.timescale import scaled
from provisioning.errors import HubRequestError
from provisioning.hubclient import HubClient

REPO = Path(__file__).resolve().parents[2]
ENV = {k: v for k, v in os.environ.items() if k != "TAPCERT_HUB_API_PLAIN_HTTP"}


def cli(config: Path, *args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "server_hub.cli", "--config", str(config),
                           *map(str, args)], capture_output=True, text=True, cwd=str(REPO),
                          env=ENV, timeout=scaled(timeout))


def write_config(workdir: Path, api: str, mqtt_port: int = 1) -> Path:
    config = workdir / "hub.toml"
    config.write_text(f'[hub]\ndb = "sqlite:///{workdir / "hub.db"}"\n\n'
                      f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\n\n[api]\n{api}')
    return config


@pytest.fixture
def https_hub(tmp_path):
    broker = Mosquitto(tmp_path / "broker", persistence=False)
    broker.start()
    port = free_port()
    config = write_config(tmp_path, f'host = "127.0.0.1"\nport = {port}\n', broker.port)
    done = cli(config, "init", "--token-file", tmp_path / "admin.token")
    assert done.returncode == 0, done.stderr
    log = open(tmp_path / "hub.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "server_hub.cli", "--config", str(config),
                             "run"], cwd=str(REPO), env=ENV, stdout=log, stderr=subprocess.STDOUT)
    ca = tmp_path / "ca" / "ca.crt"
    url = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + scaled(60)
    try:
        while True:    # readiness: the API answers over TLS verified with the hub's CA
            try:
                if httpx.get(url + "/healthz", verify=_ctx(ca), timeout=2).status_code == 200:
                    break
            except (httpx.TransportError, FileNotFoundError, OSError):
                pass
            assert proc.poll() is None, (tmp_path / "hub.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "hub.log").read_text()
            time.sleep(0.1)
        yield {"url": url, "ca": ca, "token": (tmp_path / "admin.token").read_text().strip(),
               "dir": tmp_path}
    finally:
        proc.terminate()
        proc.wait(scaled(20))
        log.close()
        broker.stop()


def _ctx(ca: Path):
    import ssl
    return ssl.create_default_context(cafile=str(ca))


def test_the_api_is_https_verified_with_the_hubs_ca(https_hub):
    url, ca, token = https_hub["url"], https_hub["ca"], https_hub["token"]
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(url + "/healthz", timeout=5)                  # no CA file: not trusted
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url.replace("https", "http") + "/healthz", timeout=5)   # no clear text
    got = httpx.get(url + "/api/v1/whoami", verify=_ctx(ca), timeout=5,
                    headers={"Authorization": "Bearer " + token})
    assert got.status_code == 200 and got.json()["role"] == "admin"
    with HubClient(url, token) as blind:
        with pytest.raises(HubRequestError, match="did not prove who it is") as err:
            blind.request("GET", "/api/v1/whoami")
        assert "--ca" in err.value.fix
    with HubClient(url, token, ca_file=ca) as client:
        assert client.request("GET", "/api/v1/whoami")["name"] == "admin"
    cert = x509.load_pem_x509_certificate((https_hub["dir"] / "ca" / "api.crt").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", socket.gethostname()} <= set(sans.get_values_for_type(x509.DNSName))
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)


def test_provision_cli_takes_the_ca_file(https_hub):
    url, ca, token = https_hub["url"], https_hub["ca"], https_hub["token"]
    base = [sys.executable, "-m", "provisioning.cli", "card", "issue", "--learner", "L-404",
            "--hub", url, "--token", token]
    blind = subprocess.run(base, capture_output=True, text=True, cwd=str(REPO), env=ENV,
                           timeout=scaled(60))
    assert blind.returncode == 1 and "did not prove who it is" in blind.stderr, blind.stderr
    seen = subprocess.run(base + ["--ca", str(ca)], capture_output=True, text=True,
                          cwd=str(REPO), env=ENV, timeout=scaled(60))
    assert "did not prove" not in seen.stderr and "unreachable" not in seen.stderr, seen.stderr


@pytest.mark.slow
@pytest.mark.parametrize("api,words", [
    ('host = "0.0.0.0"\nplain_http = true\n', "not a loopback address"),
    ('host = "127.0.0.1"\ntls_cert = "/nonexistent/hub.crt"\n', "go together"),
    ('host = "127.0.0.1"\ntls_cert = "/nonexistent/a.crt"\ntls_key = "/nonexistent/a.key"\n',
     "does not exist"),
])
def test_plain_http_off_loopback_and_bad_tls_settings_refuse_to_start(tmp_path, api, words):
    config = write_config(tmp_path, f"port = {free_port()}\n" + api)
    assert cli(config, "init", "--token-file", tmp_path / "admin.token").returncode == 0
    run = cli(config, "run", timeout=60)
    assert run.returncode != 0 and words in run.stderr, run.stderr
