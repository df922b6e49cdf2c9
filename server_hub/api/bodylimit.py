"""bodylimit: an ASGI middleware that answers 413 to a request body over `[api]
max_body_bytes`, before any route, dependency or token check reads it.

A declared Content-Length over the limit is answered at once, without reading a byte of the
body. A chunked (or under-declared) body is counted as it streams: the read that passes the
limit fails, and whatever the application then tries to answer is replaced by the 413. Either
way the hub holds at most max_body_bytes of one request: an unauthenticated client can no
longer grow its memory (issue #18: a 300 MB POST took the hub from 140 MB to 1 GB before it
answered 401, with ingest in the same process).
"""

from __future__ import annotations

import json


class BodyTooLarge(Exception):
    """Raised to the application by receive() once the body passed the limit."""


class BodyLimit:
    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._answer(send, 400, "Content-Length is not a number")
                    return
                if declared > self.max_bytes:
                    await self._too_large(send)
                    return
        seen = 0
        over = False
        answered = False
        started = False

        async def counted_receive():
            nonlocal seen, over
            if over:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    over = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message):
            nonlocal answered, started
            if over and not started:   # the application's answer to a cut body: ours instead
                if not answered:
                    answered = True
                    await self._too_large(send)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            if started:
                raise
        if over and not answered and not started:
            await self._too_large(send)

    async def _too_large(self, send):
        await self._answer(send, 413, f"request body over the hub's limit of {self.max_bytes} "
                                      "bytes ([api] max_body_bytes)")

    @staticmethod
    async def _answer(send, status, detail):
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
