"""`telegen-sonic run`: load and check the config, start the pipeline, stop cleanly on a signal."""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import signal
import threading

from .config import load_config
from .logs import setup_logging
from .sonic.dbconfig import load_namespaces

log = logging.getLogger("telegen.agent")


M_ARENA_MAX = -8  # glibc mallopt parameter


def limit_malloc_arenas(count: int = 2) -> None:
    """glibc gives each thread that allocates its own malloc arena (up to 8 per core), each
    keeping what it freed; the agent's dozen threads made that a third of its RSS. Two arenas
    bound it; called before any thread starts."""
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        ctypes.CDLL(libc_name).mallopt(M_ARENA_MAX, count)


def main(args) -> int:
    cfg = load_config(args.config)
    # Fail fast, with the path named, before anything starts: the redis layout is the one
    # input without which the agent cannot label anything.
    load_namespaces(cfg.sonic.database_config, cfg.sonic.database_global)
    setup_logging(cfg.log_level, cfg.log_format)

    from .pipeline import Pipeline  # imported after the checks: it loads grpc, BPF bindings, ...

    limit_malloc_arenas()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: (log.info("signal", extra={"signal": signum}), stop.set()))
    pipeline = Pipeline(cfg)
    try:  # a start that fails part way (a port taken, no such interface) detaches what it attached
        pipeline.start()
        log.info("agent started", extra={"endpoints": pipeline.endpoints()})
        stop.wait()
    finally:
        pipeline.stop()
        log.info("agent stopped")
    return 0
