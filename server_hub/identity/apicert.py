"""HTTPS for the hub's API: which certificate `tapcert-hub run` serves, or why it refuses.

    [api] tls_cert / tls_key   given: served as they are (a certificate from another CA)
                               empty: api.crt / api.key in the fleet CA's directory, issued
                               by the hub's own CA on first need (SANs: localhost, the host
                               name, 127.0.0.1, ::1 and [api] host when it is an address or
                               a name), so clients verify with the CA file (ca.crt)
    [api] plain_http = true    plain HTTP, refused unless [api] host is a loopback address
                               (a reverse proxy on the same machine terminates TLS)

Bearer tokens, card UIDs and learners' names cross this link: without TLS they are in clear.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

from server_hub.config import ca_dir
from server_hub.errors import ConfigError

CERT, KEY = "api.crt", "api.key"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _names(host: str) -> tuple[list[str], list[str]]:
    names, ips = ["localhost"], ["127.0.0.1", "::1"]
    for extra in (socket.gethostname(), socket.getfqdn(), host):
        if not extra or extra in ("0.0.0.0", "::"):
            continue
        try:
            ipaddress.ip_address(extra)
            bucket = ips
        except ValueError:
            bucket = names
        if extra not in bucket:
            bucket.append(extra)
    return names, ips


def ensure(cfg) -> tuple[Path, Path] | None:
    """(cert, key) of the hub's own API certificate, issued by the fleet CA when missing;
    None when the hub has no CA directory (PostgreSQL without hub.ca_dir)."""
    from server_hub.identity.enrollment import fleet_ca
    directory = ca_dir(cfg)
    if directory is None:
        return None
    cert, key = directory / CERT, directory / KEY
    if not (cert.exists() and key.exists()):
        names, ips = _names(cfg.api.host)
        fleet_ca(cfg).issue_server(names, ips, name="api")
    return cert, key


def serving(cfg) -> dict:
    """uvicorn's TLS keywords for this configuration ({} for plain HTTP); ConfigError saying
    what to change when it may not serve."""
    api = cfg.api
    if api.plain_http:
        if not is_loopback(api.host):
            raise ConfigError(f"[api] plain_http = true but [api] host = {api.host!r} is not a "
                              "loopback address: tokens and learners' data would cross the "
                              "network in clear. Remove plain_http (the hub serves HTTPS with "
                              "its own CA's certificate) or bind 127.0.0.1 behind a TLS proxy")
        return {}
    if bool(api.tls_cert) != bool(api.tls_key):
        raise ConfigError("[api] tls_cert and tls_key go together: set both, or neither (the "
                          "hub then serves its own CA's certificate)")
    if api.tls_cert:
        pair = Path(api.tls_cert).expanduser(), Path(api.tls_key).expanduser()
    else:
        pair = ensure(cfg)
        if pair is None:
            raise ConfigError("the API has no TLS certificate: set hub.ca_dir (the hub then "
                              "issues one from its CA) or [api] tls_cert and tls_key")
    for path in pair:
        if not path.is_file():
            raise ConfigError(f"[api] TLS file {path} does not exist: fix the path, or clear "
                              "tls_cert/tls_key to serve the hub CA's own certificate")
    return {"ssl_certfile": str(pair[0]), "ssl_keyfile": str(pair[1])}


def ca_file(cfg) -> Path | None:
    """The CA file clients verify the hub's own API certificate with."""
    directory = ca_dir(cfg)
    return directory / "ca.crt" if directory is not None else None
