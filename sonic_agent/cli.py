"""The `telegen-sonic` command: every verb's arguments, each dispatched to the module that owns it.

Handlers are imported only when their verb runs, so `decode` never loads redis or BPF code.
The `lab` verbs' handlers live in the lab's own distribution (telegen-sonic-lab, vm-lab/),
which the agent's wheel does not carry; without it they say so in one line.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

from . import __version__
from .config import OPERATOR_CONFIG, SONIC_DB_CONFIG
from .errors import UserError

LAB_PACKAGE = "telegen_lab"
LAB_MISSING = "not installed (pip install ./vm-lab, or run from a checkout with make setup)"


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="telegen-sonic", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"telegen-sonic {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    run = verbs.add_parser("run", help="run the agent daemon")
    run.add_argument("--config", metavar="FILE", help=f"YAML config (default {OPERATOR_CONFIG} if present; "
                     "TELEGEN_* variables override it)")
    run.set_defaults(handler="sonic_agent.agent:main")

    lab = verbs.add_parser("lab", help="a docker-free virtual SONiC switch on this machine")
    lab.add_argument("--name", default="tg", help="lab instance name (namespaces NAME-sw, NAME-nbr)")
    lab_verbs = lab.add_subparsers(dest="lab_verb", required=True, metavar="LAB_VERB")
    up = lab_verbs.add_parser("up", help="create the lab switch from a CONFIG_DB dump")
    up.add_argument("--config-db", metavar="FILE", help="SONiC CONFIG_DB dump (default: built-in lab)")
    up.set_defaults(handler=f"{LAB_PACKAGE}.control:up")
    down = lab_verbs.add_parser("down", help="remove the lab: namespaces, links, processes, files")
    down.set_defaults(handler=f"{LAB_PACKAGE}.control:down")
    status = lab_verbs.add_parser("status", help="show whether the lab is up and what it holds")
    status.add_argument("--format", choices=("table", "json"), default="table")
    status.set_defaults(handler=f"{LAB_PACKAGE}.control:status")
    traffic = lab_verbs.add_parser("traffic", help="send traffic from the lab's neighbors")
    traffic.add_argument("--kind", choices=("control", "data", "mirror"), default="control")
    traffic.add_argument("--count", type=non_negative, default=1, help="rounds to send (0: until stopped)")
    traffic.add_argument("--interval", type=float, default=1.0, help="seconds between rounds")
    traffic.add_argument("--erspan", choices=("2", "3"), default="2", help="mirror encapsulation")
    traffic.set_defaults(handler=f"{LAB_PACKAGE}.traffic:main")
    demo = lab_verbs.add_parser("run", help="lab up, agent, live terminal view; Ctrl-C tears down")
    demo.add_argument("--config-db", metavar="FILE", help="SONiC CONFIG_DB dump (default: built-in lab)")
    demo.add_argument("--duration", type=float, default=0, help="stop after N seconds (0: until Ctrl-C)")
    demo.set_defaults(handler=f"{LAB_PACKAGE}.demo:main")

    show = verbs.add_parser("show", help="print the live SONiC model or probe counters")
    show.add_argument("what", choices=("ports", "lags", "vlans", "mirror-sessions", "probes"))
    show.add_argument("--db-config", metavar="PATH", default=SONIC_DB_CONFIG,
                      help=f"database_config.json (default {SONIC_DB_CONFIG})")
    show.add_argument("--config", metavar="FILE",
                      help=f"the agent's config, for `show probes` (probes.pin_dir; default {OPERATOR_CONFIG} "
                      "if present; TELEGEN_* apply)")
    show.add_argument("--format", choices=("table", "json"), default="table")
    show.set_defaults(handler="sonic_agent.show:main")

    decode = verbs.add_parser("decode", help="decode ERSPAN/GRE/SPAN captures into flows")
    decode.add_argument("file", metavar="FILE", help="pcap or pcapng file")
    decode.add_argument("--format", choices=("table", "json"), default="table")
    decode.set_defaults(handler="sonic_agent.decode:main")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    module_name, func_name = args.handler.split(":")
    try:
        handler = getattr(_import_handler_module(module_name), func_name)
        return int(handler(args) or 0)
    except UserError as exc:
        print(f"telegen-sonic: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0


def _import_handler_module(name: str):
    """The verb's module; a lab verb whose distribution (or one of its requirements) is not
    installed is a UserError naming what is missing."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if not name.startswith(LAB_PACKAGE + ".") or missing.partition(".")[0] == __package__:
            raise
        what = "" if missing == LAB_PACKAGE else f"{missing} "
        raise UserError(f"lab: {what}{LAB_MISSING}") from None
