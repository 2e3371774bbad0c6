"""`telegen-sonic lab up|down|status`: build, inspect and remove the virtual switch."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Optional

from pyroute2 import NetNS
from sonic_agent.errors import UserError
from sonic_agent.sonic.dbconfig import load_database_config
from sonic_agent.sonic.encoding import load_dump, tables_from_dump
from sonic_agent.sonic.view import natural_key

from . import processes
from .topology import LabLayout, create, destroy, require_root

DEFAULT_CONFIG_DB = Path(__file__).with_name("default_config_db.json")


def read_config_db(path: Optional[str]) -> dict:
    source = Path(path) if path else DEFAULT_CONFIG_DB
    try:
        dump = json.loads(source.read_text())
    except FileNotFoundError:
        raise UserError(f"lab: --config-db {source} not found") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"lab: --config-db {source}: not valid JSON (line {exc.lineno})") from None
    if not isinstance(dump, dict):
        raise UserError(f"lab: --config-db {source}: top level must be an object")
    nested = dump.get("PORT", {})
    entries = nested.items() if isinstance(nested, dict) else [("", nested)]
    flat = ((k.split("|", 1)[1], v) for k, v in dump.items() if k.startswith("PORT|"))
    for name, fields in [*entries, *flat]:
        if not isinstance(fields, dict):
            raise UserError(f"lab: --config-db {source}: PORT{'|' + name if name else ''} must be an object")
    return dump


def lab_up(layout: LabLayout, config_db: Optional[str] = None) -> dict:
    """Create the lab; on any failure remove what was made, so nothing is half-applied."""
    require_root()
    if layout.exists():
        raise UserError(f"lab: '{layout.name}' is already up (telegen-sonic lab down first)")
    dump = read_config_db(config_db)
    tables = tables_from_dump(dump)
    try:
        layout.dir.mkdir(parents=True)
        ports = create(layout, tables)
        processes.start_redis(layout)
        dbs = load_database_config(str(layout.db_config))
        config = dbs.connect("CONFIG_DB")
        load_dump(config, dump, dbs.db("CONFIG_DB").separator)
        config.set("CONFIG_DB_INITIALIZED", "1")
        processes.spawn(layout, "labd", processes.python_module("telegen_lab.labd", "--name", layout.name),
                        netns=layout.switch_ns)
        _wait_for_state(dbs, ports)
    except BaseException:
        lab_down(layout)
        raise
    return {"name": layout.name, "ports": len(ports), "switch_ns": layout.switch_ns,
            "neighbor_ns": layout.neighbor_ns, "database_config": str(layout.db_config)}


def _wait_for_state(dbs, ports, timeout: float = 20.0) -> None:
    state = dbs.connect("STATE_DB")
    deadline = time.time() + timeout
    while time.time() < deadline:
        pipe = state.pipeline(transaction=False)
        for port in ports:
            pipe.exists(f"PORT_TABLE|{port}")
        if all(pipe.execute()):
            return
        time.sleep(0.1)
    raise UserError("lab: the state daemon did not publish port state (see its log in the lab dir)")


def lab_down(layout: LabLayout) -> None:
    require_root()
    processes.stop_all(layout)
    destroy(layout)
    shutil.rmtree(layout.dir, ignore_errors=True)
    shutil.rmtree(layout.bpf_pin_dir, ignore_errors=True)
    try:
        layout.dir.parent.rmdir()  # the lab root, once no lab is left in it
    except OSError:
        pass


def lab_status(layout: LabLayout) -> dict:
    if not layout.exists():
        return {"name": layout.name, "up": False}
    status = {"name": layout.name, "up": True, "switch_ns": layout.switch_ns,
              "neighbor_ns": layout.neighbor_ns, "database_config": str(layout.db_config),
              "processes": processes.running(layout), "ports": []}
    try:
        dbs = load_database_config(str(layout.db_config))
        appl = dbs.connect("APPL_DB")
        names = sorted(dbs.connect("COUNTERS_DB").hkeys("COUNTERS_PORT_NAME_MAP"), key=natural_key)
        pipe = appl.pipeline(transaction=False)
        for name in names:
            pipe.hmget(f"PORT_TABLE:{name}", "admin_status", "oper_status")
        status["ports"] = [{"name": n, "admin_status": a, "oper_status": o}
                           for n, (a, o) in zip(names, pipe.execute())]
    except Exception as exc:  # status reports a broken lab instead of failing on it
        status["error"] = f"{type(exc).__name__}: {exc}"
    if Path("/run/netns", layout.switch_ns).exists():
        with NetNS(layout.switch_ns) as ns:
            status["netdevs"] = len(ns.get_links())
    return status


def up(args) -> int:
    info = lab_up(LabLayout(args.name), args.config_db)
    print(f"lab up: {info['ports']} ports in netns {info['switch_ns']} (neighbors in {info['neighbor_ns']}); "
          f"database_config {info['database_config']}")
    return 0


def down(args) -> int:
    lab_down(LabLayout(args.name))
    print("lab down")
    return 0


def status(args) -> int:
    info = lab_status(LabLayout(args.name))
    if args.format == "json":
        print(json.dumps(info, indent=2))
    elif not info["up"]:
        print("lab: down")
    else:
        print(f"lab: up  netns {info['switch_ns']}/{info['neighbor_ns']}  db {info['database_config']}")
        print("processes: " + ", ".join(f"{k}={v}" for k, v in sorted(info["processes"].items())))
        for port in info["ports"]:
            print(f"  {port['name']:<16} admin {port['admin_status'] or '-':<5} oper {port['oper_status'] or '-'}")
    return 0
