"""`telegen-sonic run`: load and check the config, start the pipeline, stop cleanly on a signal."""
from __future__ import annotations

import logging
import signal
import threading

from .config import load_config
from .logs import setup_logging
from .sonic.dbconfig import load_namespaces

log = logging.getLogger("telegen.agent")


def main(args) -> int:
    cfg = load_config(args.config)
    # Fail fast, with the path named, before anything starts: the redis layout is the one
    # input without which the agent cannot label anything.
    load_namespaces(cfg.sonic.database_config, cfg.sonic.database_global)
    setup_logging(cfg.log_level, cfg.log_format)

    from .pipeline import Pipeline  # imported after the checks: it loads grpc, BPF bindings, ...

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: (log.info("signal", extra={"signal": signum}), stop.set()))
    pipeline = Pipeline(cfg)
    pipeline.start()
    log.info("agent started", extra={"endpoints": pipeline.endpoints()})
    try:
        stop.wait()
    finally:
        pipeline.stop()
        log.info("agent stopped")
    return 0
