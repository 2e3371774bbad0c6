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


def seconds(text: str) -> float:
    """A wait in seconds: finite, 0..86400 (time.sleep refuses negatives and overflows on 1e300)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text[:40]!r}") from None
    if not 0 <= value <= 86400:  # also false for nan
        raise argparse.ArgumentTypeError(f"must be 0..86400 seconds, got {text[:40]}")
    return value


class OneLineParser(argparse.ArgumentParser):
    """A bad argument is one line naming it (and exit 2), as every other bad input is."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="telegen-sonic", description=__doc__.splitlines()[0])
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
    traffic.add_argument("--kind", choices=("control", "data"), default="control",
                         help="data crosses the ports, so mirrored ports' frames are mirrored by the lab")
    traffic.add_argument("--count", type=non_negative, default=1, help="rounds to send (0: until stopped)")
    traffic.add_argument("--interval", type=seconds, default=1.0, help="seconds between rounds (0..86400)")
    traffic.set_defaults(handler=f"{LAB_PACKAGE}.traffic:main")
    demo = lab_verbs.add_parser("run", help="lab up, agent, live terminal view; Ctrl-C tears down")
    demo.add_argument("--config-db", metavar="FILE", help="SONiC CONFIG_DB dump (default: built-in lab)")
    demo.add_argument("--duration", type=seconds, default=0, help="stop after N seconds (0: until Ctrl-C)")
    demo.set_defaults(handler=f"{LAB_PACKAGE}.demo:main")

    slo = verbs.add_parser("slo", help="SLOs: rules for Prometheus, a Sloth spec, maintenance windows")
    slo_verbs = slo.add_subparsers(dest="slo_verb", required=True, metavar="SLO_VERB")
    for name, what in (("rules", "Prometheus recording and alert rules (Sloth's names and windows)"),
                       ("sloth", "a Sloth spec (prometheus/v1) of the config's SLOs")):
        gen = slo_verbs.add_parser(name, help=what)
        gen.add_argument("--config", metavar="FILE", help="the agent's config (TELEGEN_* apply)")
        gen.add_argument("--output", metavar="FILE", help="write there instead of stdout")
        gen.add_argument("--group-by", default="instance" if name == "rules" else "",
                         help="labels the ratios keep, comma-separated (default: %(default)r)")
        gen.set_defaults(handler="sonic_agent.slo.cli:rules")
    maint = slo_verbs.add_parser("maintenance", help="planned maintenance windows (CONFIG_DB TELEGEN_SLO_MAINTENANCE)")
    maint.add_argument("action", choices=("start", "stop", "list"))
    maint.add_argument("id", nargs="?", help="the window's id (start: default generated, and printed)")
    maint.add_argument("--slo", action="append", default=[], help="an SLO it covers (repeat; default: all)")
    maint.add_argument("--duration", default="1h", help="start: how long (30m, 2h, ...; default %(default)s)")
    maint.add_argument("--start", default="now", help="start: ISO 8601 time (default: now)")
    maint.add_argument("--reason", default="", help="start: why")
    maint.add_argument("--db-config", metavar="PATH", default=SONIC_DB_CONFIG)
    maint.add_argument("--format", choices=("table", "json"), default="table")
    maint.set_defaults(handler="sonic_agent.slo.cli:maintenance")

    show = verbs.add_parser("show", help="print the live SONiC model, probe counters or SLOs")
    show.add_argument("what", choices=("ports", "lags", "vlans", "mirror-sessions", "probes", "slo"))
    show.add_argument("--db-config", metavar="PATH", default=SONIC_DB_CONFIG,
                      help=f"database_config.json (default {SONIC_DB_CONFIG})")
    show.add_argument("--config", metavar="FILE",
                      help=f"the agent's config, for `show probes` (probes.pin_dir; default {OPERATOR_CONFIG} "
                      "if present; TELEGEN_* apply)")
    show.add_argument("--format", choices=("table", "json"), default="table")
    show.set_defaults(handler="sonic_agent.show:main")

    mirror = verbs.add_parser("mirror", help="on-demand mirror jobs on the running agent (its job API)")
    client = argparse.ArgumentParser(add_help=False)  # every mirror verb's options
    client.add_argument("--config", metavar="FILE", help="the agent's config: jobs.listen, jobs.token (TELEGEN_* apply)")
    client.add_argument("--ca", metavar="FILE", help="CA to verify the API's certificate (jobs.tls)")
    client.add_argument("--cert", metavar="FILE", help="client certificate (mTLS)")
    client.add_argument("--key", metavar="FILE", help="client key (mTLS)")
    client.add_argument("--format", choices=("table", "json"), default="table")
    mirror_verbs = mirror.add_subparsers(dest="mirror_verb", required=True, metavar="MIRROR_VERB")
    start = mirror_verbs.add_parser("start", parents=[client], help="mirror a port's traffic for a while")
    start.add_argument("--port", required=True, help="EthernetN (or its alias) or PortChannelN")
    start.add_argument("--direction", choices=("ingress", "egress", "both"), default="both")
    start.add_argument("--filter", action="append", metavar="NAME=VALUE,...",
                       help="an ACL rule, e.g. protocol=udp,dst_port=53 (repeatable: any rule matches)")
    start.add_argument("--duration", type=float, help="seconds (default: jobs.default_duration_s)")
    start.add_argument("--sample-rate", type=int, default=1, help="mirror 1 in N frames")
    start.set_defaults(handler="sonic_agent.jobs.cli:start")
    mirror_verbs.add_parser("list", parents=[client], help="the jobs, running and ended").set_defaults(
        handler="sonic_agent.jobs.cli:list_jobs")
    results = mirror_verbs.add_parser("results", parents=[client], help="a job's summary and flows, or its capture")
    results.add_argument("job_id", metavar="ID")
    results.add_argument("--pcap", metavar="FILE", help="write the job's capture (inner frames) as pcap")
    results.set_defaults(handler="sonic_agent.jobs.cli:results")
    stop = mirror_verbs.add_parser("stop", parents=[client], help="stop a job (its mirror removed, results kept)")
    stop.add_argument("job_id", metavar="ID")
    stop.set_defaults(handler="sonic_agent.jobs.cli:stop")

    decode = verbs.add_parser("decode", help="decode ERSPAN/GRE/SPAN captures into flows")
    decode.add_argument("file", metavar="FILE", help="pcap or pcapng file")
    decode.add_argument("--format", choices=("table", "json"), default="table")
    decode.add_argument("--anonymize-key", metavar="KEY", help="anonymise every address with Crypto-PAn "
                        "(a 32-byte key file: AES key, then pad)")
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
