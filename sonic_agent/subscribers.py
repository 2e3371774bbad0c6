"""Callbacks told of each event from any thread; one that raises is logged, never stops the teller."""
from __future__ import annotations

import logging
import threading
from typing import Callable, Generic, List, TypeVar

E = TypeVar("E")


class Subscribers(Generic[E]):
    def __init__(self, log: logging.Logger, what: str):
        self._lock = threading.Lock()
        self._callbacks: List[Callable[[E], None]] = []
        self._log, self._what = log, what

    def subscribe(self, callback: Callable[[E], None]) -> Callable[[], None]:
        """Add `callback`; returns the function that removes it."""
        with self._lock:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)
        return unsubscribe

    def tell(self, event: E) -> None:
        """Call every callback with `event`, outside the lock."""
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(event)
            except Exception:  # a subscriber's bug must not stop whoever tells
                self._log.exception(f"{self._what} subscriber failed", extra={"subscriber": repr(callback)})
