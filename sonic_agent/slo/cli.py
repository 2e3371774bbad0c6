"""`telegen-sonic slo rules|sloth|maintenance ...` and `telegen-sonic show slo`.

`rules` and `sloth` write the config's SLOs for a fleet's Prometheus (sonic_agent.slo.rules).
`maintenance start|stop|list` keeps planned maintenance in CONFIG_DB
`TELEGEN_SLO_MAINTENANCE|<id>` (start, end, slos@, reason), which the running agent reads every
second (family `slo`), so a fleet tool can push the same entries. `show slo` prints what the
running agent last wrote to STATE_DB `TELEGEN_SLO_TABLE`.
"""
from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

from ..config import load_config
from ..errors import UserError
from ..show import format_table
from ..sonic.dbconfig import load_database_config
from .actions import TABLE
from .rules import dump, prometheus_rules, sloth_spec
from .spec import epoch, seconds

MAINTENANCE = "TELEGEN_SLO_MAINTENANCE"
MAX_MAINTENANCE = 256  # the agent reads at most families.slo.max_entries (256) of them


def _write(text: str, output) -> None:
    if output in (None, "-"):
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text)
    except OSError as exc:
        raise UserError(f"slo: cannot write {output}: {exc.strerror}") from None


def rules(args) -> int:
    cfg = load_config(args.config)
    if not cfg.slo.objectives:
        raise UserError("slo: the config defines no SLO (slo.objectives)")
    group_by = [label for label in args.group_by.split(",") if label]
    document = prometheus_rules(cfg.slo, group_by) if args.slo_verb == "rules" else sloth_spec(cfg.slo, group_by)
    _write(dump(document), args.output)
    return 0


def _config_db(args):
    databases = load_database_config(args.db_config)
    return databases.connect("CONFIG_DB"), databases.db("CONFIG_DB").separator


def _time_arg(text: str, what: str) -> float:
    return time.time() if text == "now" else epoch(text, what)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def maintenance(args) -> int:
    client, sep = _config_db(args)
    if args.action == "start":
        start = _time_arg(args.start, "--start")
        end = start + seconds(args.duration, "--duration")
        name = args.id or time.strftime("%Y%m%dT%H%M%S", time.gmtime(start)) + "-" + uuid.uuid4().hex[:4]
        if not all(c.isalnum() or c in "-_." for c in name):
            raise UserError(f"slo: maintenance id: letters, digits, - _ . only, got {name!r}")
        if len(list(client.scan_iter(match=f"{MAINTENANCE}{sep}*", count=1000))) >= MAX_MAINTENANCE:
            raise UserError(f"slo: {MAX_MAINTENANCE} maintenance windows already in CONFIG_DB; stop some first")
        fields = {"start": _iso(start), "end": _iso(end), "reason": args.reason}
        if args.slo:
            fields["slos@"] = ",".join(args.slo)
        client.hset(f"{MAINTENANCE}{sep}{name}", mapping=fields)
        print(name)
        return 0
    if args.action == "stop":
        key = f"{MAINTENANCE}{sep}{args.id}"
        if not client.exists(key):
            raise UserError(f"slo: no maintenance window {args.id!r}")
        client.hset(key, "end", _iso(time.time()))  # kept, ended: `list` still shows it
        return 0
    rows = []
    for key in sorted(client.scan_iter(match=f"{MAINTENANCE}{sep}*", count=1000)):
        fields = client.hgetall(key)
        row = {"id": key.split(sep, 1)[1], "start": fields.get("start", ""), "end": fields.get("end", ""),
               "slos": [s for s in fields.get("slos@", "").split(",") if s], "reason": fields.get("reason", "")}
        try:
            row["active"] = epoch(row["start"], "start") <= time.time() < epoch(row["end"], "end")
        except UserError:
            row["active"] = False
        rows.append(row)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(("id", "active", "start", "end", "slos", "reason"), rows))
    return 0


SHOW_COLUMNS = ("slo", "level", "remaining", "sli", "objective", "window", "burn_rates", "maintenance", "last_event",
                "updated")


def show(args) -> int:
    databases = load_database_config(args.db_config)
    client, sep = databases.connect("STATE_DB"), databases.db("STATE_DB").separator
    rows = []
    for key in sorted(client.scan_iter(match=f"{TABLE}{sep}*", count=1000)):
        fields = client.hgetall(key)
        burn = {k[len("burn_rate_"):]: float(v) for k, v in fields.items() if k.startswith("burn_rate_")}
        row = {"slo": key.split(sep, 1)[1], **{k: v for k, v in fields.items() if not k.startswith("burn_rate_")},
               "burn_rates": dict(sorted(burn.items(), key=lambda kv: seconds(kv[0], "window")))}
        for name in ("remaining", "sli", "objective"):
            if name in row:
                row[name] = float(row[name])
        rows.append(row)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        row["burn_rates"] = " ".join(f"{w}={r:.2f}" for w, r in row["burn_rates"].items())
        for name in ("remaining", "sli"):
            if name in row:
                row[name] = f"{row[name]:.4f}"
    print(format_table(SHOW_COLUMNS, rows))
    return 0

