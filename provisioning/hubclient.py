"""Thin adapter over the hub's HTTP API (httpx), with the technician's bearer token. An
https:// hub is verified with its CA file (`--ca` / $TAPCERT_HUB_CA: the hub's ca.crt).

Every call returns decoded JSON or raises HubRequestError with what to do; HTTP and network errors
never leak. `NotFound` and `Conflict` are raised for 404 and 409 so callers can tell "not
registered" and "already registered" apart from a broken link.
"""

from __future__ import annotations

import ssl

import httpx

from provisioning.errors import HubRequestError


class NotFound(HubRequestError):
    pass


class Conflict(HubRequestError):
    pass


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):  # FastAPI validation errors
        detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    return str(detail)


def _verify(url: str, ca_file):
    """How the hub's HTTPS certificate is checked: against `ca_file` (the hub's fleet CA,
    ca.crt) when given, else the system's trusted CAs."""
    if not ca_file or not url.startswith("https://"):
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise HubRequestError("cannot read the hub's CA file {} ({})".format(ca_file, exc),
                       "copy ca.crt from the hub's CA directory and pass it with --ca") from exc


class HubClient:
    def __init__(self, url: str, token: str, timeout: float = 10.0, transport=None,
                 ca_file=None):
        if not url or not url.startswith(("http://", "https://")):
            raise HubRequestError("hub URL {!r} is not an http(s) URL".format(url),
                           "pass --hub https://hub.example:8470 (ask the operator)")
        if not token:
            raise HubRequestError("no technician token given",
                           "pass --token or set TAPCERT_TOKEN (ask the hub operator for one)")
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=timeout, transport=transport,
                                    verify=_verify(self.url, ca_file),
                                    headers={"Authorization": "Bearer " + token})

    def close(self) -> None:
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def request(self, method: str, path: str, json=None, params=None):
        try:
            response = self._client.request(method, path, json=json, params=params)
        except httpx.TimeoutException as exc:
            raise HubRequestError("hub at {} did not answer in time".format(self.url),
                           "check the station's network, then retry") from exc
        except httpx.ConnectError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                raise HubRequestError("the hub at {} did not prove who it is: its certificate is not "
                               "signed by a CA we trust ({})".format(self.url, exc),
                               "pass the hub's CA file with --ca (or $TAPCERT_HUB_CA): ca.crt "
                               "from the hub's CA directory") from exc
            raise HubRequestError("hub at {} is unreachable ({})".format(self.url, exc),
                           "check the network and the --hub URL, then retry") from exc
        except httpx.HTTPError as exc:
            raise HubRequestError("hub at {} is unreachable ({})".format(self.url, exc.__class__.__name__
                                                                   if not str(exc) else exc),
                           "check the network and the --hub URL, then retry") from exc
        if response.status_code < 300:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError as exc:
                raise HubRequestError("hub at {} answered {} {} with no JSON".format(
                    self.url, method, path), "check --hub points at the tapcert hub API") from exc
        detail = _detail(response)
        code = response.status_code
        if code == 401:
            raise HubRequestError("the hub refused the token ({})".format(detail),
                           "ask the hub operator for a valid technician token")
        if code == 403:
            raise HubRequestError("the token may not do this ({})".format(detail),
                           "ask the hub admin for a token with that role (cards need an operator "
                           "token, readers and stations a technician token)")
        if code == 404:
            raise NotFound("hub: {}".format(detail))
        if code == 409:
            raise Conflict("hub: {}".format(detail))
        if code in (400, 422):
            raise HubRequestError("the hub rejected the request: {}".format(detail))
        raise HubRequestError("hub at {} failed with HTTP {} ({})".format(self.url, code, detail),
                       "retry later; if it persists, tell the hub operator")
