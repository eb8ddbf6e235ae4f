"""Stop a service behind the ingress proxy without failing one request.

uvicorn, on SIGTERM, stops listening and closes every idle keep-alive
connection at once. The proxy keeps a pool of such connections and may be
sending a request down one at that very moment: the request is lost (Apache
closes the client's connection unanswered). So a service drains first:

1. ``/readyz`` answers 503, and the proxy's health check (every second) stops
   electing the service;
2. whatever still reaches it is served, each response with
   ``Connection: close``, so no connection is left pooled by the proxy;
3. after ``drain_s`` seconds parked waits (long polls, event streams) are
   answered and the signal goes on to uvicorn, whose graceful shutdown lets
   requests in flight finish.

A second signal skips what is left of the drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
CLOSE_HEADER = (b"connection", b"close")


def _nothing() -> None:
    pass


class Drain:
    """One service process's drain: its state, and the signal handling that runs it."""

    def __init__(self, drain_s: float) -> None:
        self.drain_s = drain_s
        self.draining = False
        self._stop_later: asyncio.TimerHandle | None = None
        self._stopped = False

    def install(self, on_stop: Callable[[], None] = _nothing) -> Callable[[], None]:
        """Drain on SIGTERM/SIGINT, then call ``on_stop`` and the previous handler
        (uvicorn's) in the running loop.

        Returns the function that restores the previous handlers. Off the main
        thread (signals cannot be set there) it does nothing.
        """
        loop = asyncio.get_running_loop()
        try:
            previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

            def stop(signum: int, frame: FrameType | None) -> None:
                if self._stop_later is not None:
                    self._stop_later.cancel()
                try:
                    if not self._stopped:
                        self._stopped = True
                        on_stop()
                finally:  # the server stops even if on_stop failed
                    _call_previous(previous[signal.Signals(signum)], signum, frame)

            def begin(signum: int, frame: FrameType | None) -> None:
                if self.draining or self.drain_s <= 0:
                    stop(signum, frame)
                    return
                self.draining = True
                self._stop_later = loop.call_later(self.drain_s, stop, signum, frame)

            def handler(signum: int, frame: FrameType | None) -> None:
                loop.call_soon_threadsafe(begin, signum, frame)

            for sig in STOP_SIGNALS:
                signal.signal(sig, handler)
        except ValueError:
            return _nothing

        def restore() -> None:
            if self._stop_later is not None:
                self._stop_later.cancel()
            with contextlib.suppress(ValueError):
                for sig, earlier in previous.items():
                    signal.signal(sig, earlier)

        return restore

    def closing(self, send: Send) -> Send:
        """``send`` itself, or while draining one that adds ``Connection: close`` to
        the response (uvicorn then closes the connection once it is sent)."""
        if not self.draining:
            return send

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), CLOSE_HEADER]}
            await send(message)

        return send_closing


def _call_previous(earlier: Any, signum: int, frame: FrameType | None) -> None:
    if callable(earlier):
        earlier(signum, frame)
    elif earlier == signal.SIG_DFL:
        signal.default_int_handler(signum, frame)


class CloseWhileDraining:
    """ASGI middleware: every HTTP response of a draining service closes its connection."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            send = self.drain.closing(send)
        await self.app(scope, receive, send)
