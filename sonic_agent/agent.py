"""`telegen-sonic run`: load and check the config, start the pipeline, stop cleanly on a signal."""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import signal
import threading
from typing import Optional

from .config import config_file, load_config
from .logs import setup_logging
from .sonic.dbconfig import load_namespaces

log = logging.getLogger("telegen.agent")


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # glibc mallopt parameters
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def tune_malloc() -> None:
    """glibc keeps what the agent frees, in arenas that grow and rarely shrink:
    - each thread that allocates gets its own arena (up to 8 per core), each keeping what it
      freed: the agent's dozen threads made that a third of its RSS; two arenas bound it;
    - a block over the mmap threshold is its own mapping, given back when freed, but glibc
      raises that threshold each time one is freed, so the per-tick buffers (map blobs, redis
      replies, the exposition) end up in the arenas: a fixed 256 KB threshold keeps them mapped.
    Called before any thread starts; `release_free_memory` after each tick does the rest."""
    _LIBC.mallopt(M_ARENA_MAX, 2)
    _LIBC.mallopt(M_MMAP_THRESHOLD, 256 * 1024)
    _LIBC.mallopt(M_TRIM_THRESHOLD, 1024 * 1024)


def release_free_memory() -> None:
    """Give the arenas' free pages back to the kernel (malloc_trim: ~a millisecond here)."""
    _LIBC.malloc_trim(0)


def remove_job_leftovers(cfg, namespaces) -> Optional[int]:
    """What the jobs of a killed predecessor left in CONFIG_DB, removed first thing (before the
    pipeline's imports, which take a second or more): the keys removed, None if redis could not
    be reached (the jobs thread then retries)."""
    from .jobs.journal import Journal, remove_leftovers
    from .jobs.switch import JobWriter
    from .sonic.follower import REDIS_ERRORS
    writers = {c.namespace: JobWriter(c) for c in namespaces}
    try:
        return remove_leftovers(Journal(cfg.jobs.journal), writers)
    except REDIS_ERRORS:
        return None
    finally:
        for writer in writers.values():
            writer.close()


def main(args) -> int:
    cfg = load_config(config_file(args.config))
    # Fail fast, with the path named, before anything starts: the redis layout is the one
    # input without which the agent cannot label anything.
    namespaces = load_namespaces(cfg.sonic.database_config, cfg.sonic.database_global)
    setup_logging(cfg.log_level, cfg.log_format)
    leftovers = remove_job_leftovers(cfg, namespaces) if cfg.jobs.enabled else None

    from .pipeline import Pipeline  # imported after the checks: it loads grpc, BPF bindings, ...

    tune_malloc()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: (log.info("signal", extra={"signal": signum}), stop.set()))
    pipeline = Pipeline(cfg, after_tick=release_free_memory, job_leftovers_removed=leftovers)
    try:  # a start that fails part way (a port taken, no such interface) detaches what it attached
        pipeline.start()
        log.info("agent started", extra={"endpoints": pipeline.endpoints()})
        stop.wait()
    finally:
        pipeline.stop()
        log.info("agent stopped")
    return 0
