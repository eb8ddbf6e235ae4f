"""Hear about SIGTERM before the server starts draining requests.

uvicorn lets requests in flight finish for a grace period before running the
app's lifespan shutdown; a long poll parked for 20 s would outlive that grace
and be cut mid-answer (a failed request behind a proxy). Chaining the signal
lets the app answer such waits right away instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def chain_stop_signals(on_stop: Callable[[], None]) -> Callable[[], None]:
    """Call ``on_stop`` in the running loop on SIGTERM/SIGINT, then the previous handler.

    Returns the function that restores the previous handlers. Off the main
    thread (signals cannot be set there) it does nothing.
    """
    loop = asyncio.get_running_loop()
    try:
        previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

        def handler(signum: int, frame: FrameType | None) -> None:
            loop.call_soon_threadsafe(on_stop)
            earlier = previous[signal.Signals(signum)]
            if callable(earlier):
                earlier(signum, frame)
            elif earlier == signal.SIG_DFL:
                signal.default_int_handler(signum, frame)

        for sig in STOP_SIGNALS:
            signal.signal(sig, handler)
    except ValueError:
        return lambda: None

    def restore() -> None:
        with contextlib.suppress(ValueError):
            for sig, earlier in previous.items():
                signal.signal(sig, earlier)

    return restore
