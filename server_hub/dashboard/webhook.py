"""webhook: POST one JSON document (alerts.payload) to the operator's URL (thin sender).

Success is any 2xx answer. Anything else (refused, timeout, 4xx/5xx) raises WebhookError;
the monitor then leaves the alerts pending and tries again at its next evaluation.
"""

from __future__ import annotations

import httpx

from server_hub.errors import HubError


class WebhookError(HubError):
    pass


class Webhook:
    def __init__(self, url: str, timeout_s: float = 5.0):
        self.url = url
        self.timeout_s = timeout_s

    def send(self, doc: dict) -> None:
        try:
            resp = httpx.post(self.url, json=doc, timeout=self.timeout_s,
                              headers={"User-Agent": "tapcert-hub"})
        except httpx.HTTPError as exc:
            raise WebhookError(f"alert webhook {self.url} unreachable ({exc}); the alerts stay "
                               "pending and are sent again") from exc
        if not 200 <= resp.status_code < 300:
            raise WebhookError(f"alert webhook {self.url} answered {resp.status_code}; the "
                               "alerts stay pending and are sent again")
