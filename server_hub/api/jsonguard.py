"""jsonguard: an ASGI middleware that reads every JSON request body with protocol/boundedjson
before the application does, and answers 422 to one it refuses.

Python's json (what FastAPI parses bodies with) takes NaN, Infinity and 1e999 and nests as deep
as the stack allows; a stored Infinity then made every later JSON answer that carried it fail
with 500 (issue #18). Here a body with `Content-Type: application/json` is collected (at most
`[api] max_body_bytes`: bodylimit.py stands in front), checked (nested at most 32 deep,
finite numbers, integers within 2^64, UTF-8), and handed on unchanged; refused, it gets 422
{"detail": ..., "reason": "non_finite" | "json_too_deep" | ...} before any route runs.
"""

from __future__ import annotations

import json

from protocol import boundedjson
from protocol.errors import RemoteProtocolError


class JSONGuard:
    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":       # the client went away
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body:
            try:
                boundedjson.loads(body, self.max_bytes)
            except RemoteProtocolError as exc:
                await _refuse(send, exc)
                return
        await self.app(scope, _replay([{"type": "http.request", "body": body,
                                        "more_body": False}], receive), send)


def _is_json(scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            kind = value.split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return False


def _replay(messages, then=None):
    async def receive():
        if messages:
            return messages.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}
    return receive


async def _refuse(send, exc) -> None:
    body = json.dumps({"detail": f"the JSON body is refused: {exc}", "reason": exc.reason}
                      ).encode()
    await send({"type": "http.response.start", "status": 422,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
