"""The access log: method, route template, status and duration of each request.

Templates (``/v1/holders/{holder_id}``), never the paths: a path names a holder, and an erased
holder's id must not stay in the logs. uvicorn's own access log is turned off (``matcher serve``).
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("matcher.access")


class AccessLog:
    """ASGI middleware writing one line per HTTP request to the ``matcher.access`` logger."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            route = scope.get("route")
            # No route matched (a 404): the path is not logged either, only that it matched none.
            template = getattr(route, "path", None) or "(adresse inconnue)"
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.info("%s %s %d %.0f ms", scope["method"], template, status, elapsed_ms)
