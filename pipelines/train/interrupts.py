"""Ctrl-C and SIGTERM during training: record the request, stop at the next batch boundary.

Without a handler, SIGINT raises KeyboardInterrupt wherever the interpreter happens to be.
CPython drops an exception raised inside a finalizer (for example the checkpoint file
closing just after it was written), so an unlucky Ctrl-C was silently lost and training ran
to the end. A handler that only sets a flag cannot be lost; the training loop reads it after
each batch (pipelines/train/callbacks.py), saves a resumable checkpoint and raises `Interrupted`.
A second Ctrl-C raises KeyboardInterrupt at once, for a user who will not wait for a batch.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from stylectl.pipelines.errors import StylectlError

HANDLED = (signal.SIGINT, signal.SIGTERM)
_requested: list[int] = []


class Interrupted(StylectlError):
    """Training stopped on request; the exit code is the shell's 128 + signal number."""

    def __init__(self, message: str, signal_number: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signal_number


def requested_signal() -> int | None:
    """The first stop signal received while `stop_requests` was active, if any."""
    return _requested[0] if _requested else None


def _record(signal_number: int, frame) -> None:
    if _requested and signal_number == signal.SIGINT:
        raise KeyboardInterrupt
    _requested.append(signal_number)


@contextmanager
def stop_requests() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM are recorded instead of raising; restored after.

    Signal handlers can only be set from the main thread; elsewhere (a test calling a stage
    from a worker thread) the default behaviour stays.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in HANDLED}
    _requested.clear()
    for number in HANDLED:
        signal.signal(number, _record)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        _requested.clear()
