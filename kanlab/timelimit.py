"""A wall-clock limit for a block of Python code (used around ``sympy.simplify``)."""
from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from typing import Iterator, Optional


class TimeLimitExceeded(TimeoutError):
    """Raised inside a :func:`time_limit` block; ``token`` is what that block's ``with`` bound."""

    def __init__(self, seconds: float, token: object) -> None:
        super().__init__(f"took over {seconds:g} s")
        self.token = token


def check_seconds(seconds: Optional[float], name: str = "seconds") -> None:
    """``ValueError`` unless ``seconds`` is None (no limit) or positive and finite."""
    if seconds is not None and not 0 < seconds < math.inf:
        raise ValueError(f"{name} must be positive and finite (None: no limit), got {seconds!r}")


@contextlib.contextmanager
def time_limit(seconds: Optional[float]) -> Iterator[Optional[object]]:
    """Raise :class:`TimeLimitExceeded` inside the block once ``seconds`` (> 0) have passed.

    ``with time_limit(10) as token:`` binds a token that the exception carries, so a caller can
    tell its own limit from an inner or outer one. It uses ``SIGALRM`` and the real-time interval
    timer, so it acts only in the main thread on Unix; elsewhere, or with ``seconds=None``, the
    block runs unlimited (and ``token`` is ``None``). Nesting works: a timer already set keeps its
    deadline (if it is due first, it stays in charge and this limit does not arm), and it is
    re-armed with its remaining time afterwards.
    """
    check_seconds(seconds)
    if seconds is None or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield None
        return
    outer_delay, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    if outer_delay and outer_delay <= seconds:  # the caller's deadline comes first
        yield None
        return
    token = object()

    def alarm(signum: int, frame: object) -> None:
        raise TimeLimitExceeded(seconds, token)

    start = time.monotonic()
    previous = signal.getsignal(signal.SIGALRM)
    try:
        signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        yield token
    finally:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
            if outer_delay:  # overdue timers fire at once
                signal.setitimer(signal.ITIMER_REAL, max(outer_delay - (time.monotonic() - start), 1e-6),
                                 outer_interval)
