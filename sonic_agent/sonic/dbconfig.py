"""Where SONiC's databases live: database_config.json (and database_global.json for multi-ASIC).

Ids, separators and redis instances are always read from the files, never assumed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import redis

from ..errors import UserError


@dataclass(frozen=True)
class RedisInstance:
    name: str
    hostname: str
    port: int
    unix_socket_path: Optional[str]

    def where(self) -> str:
        """Where a client connects, for messages: the unix socket when it exists, else TCP."""
        if self.unix_socket_path and Path(self.unix_socket_path).exists():
            return f"unix socket {self.unix_socket_path}"
        missing = f" (unix socket {self.unix_socket_path} absent)" if self.unix_socket_path else ""
        return f"{self.hostname}:{self.port}{missing}"


@dataclass(frozen=True)
class Database:
    name: str
    id: int
    separator: str
    instance: RedisInstance


@dataclass(frozen=True)
class DatabaseConfig:
    """One namespace's databases ('' is the host / single-ASIC namespace)."""

    namespace: str
    path: str
    databases: Dict[str, Database]

    def db(self, name: str) -> Database:
        try:
            return self.databases[name]
        except KeyError:
            raise UserError(f"{self.path}: DATABASES has no {name}") from None

    def connect(self, name: str, **kwargs) -> redis.Redis:
        """A redis-py client on `name`, by unix socket when the file gives one that exists."""
        db = self.db(name)
        inst = db.instance
        opts = dict(db=db.id, decode_responses=True, encoding_errors="replace", socket_timeout=5,
                    socket_connect_timeout=2)  # a non-UTF-8 value is text with U+FFFD, not an error
        opts.update(kwargs)
        if inst.unix_socket_path and Path(inst.unix_socket_path).exists():
            return redis.Redis(unix_socket_path=inst.unix_socket_path, **opts)
        return redis.Redis(host=inst.hostname, port=inst.port, **opts)


def load_database_config(path: str, namespace: str = "") -> DatabaseConfig:
    """Parse one database_config.json; a missing or malformed file is a UserError naming it."""
    data = _read_json(path, "sonic.database_config")
    try:
        instances = {
            name: RedisInstance(name, str(v.get("hostname", "127.0.0.1")), int(v.get("port", 6379)),
                                v.get("unix_socket_path"))
            for name, v in data["INSTANCES"].items()
        }
        databases = {
            name: Database(name, int(v["id"]), str(v.get("separator", ":")), instances[v["instance"]])
            for name, v in data["DATABASES"].items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UserError(f"{path}: malformed database config ({type(exc).__name__}: {exc})") from None
    return DatabaseConfig(namespace, path, databases)


def load_namespaces(config_path: str, global_path: Optional[str] = None) -> List[DatabaseConfig]:
    """All namespaces: the host's from `config_path`, plus each ASIC's from database_global.json."""
    configs = [load_database_config(config_path)]
    if not global_path or not Path(global_path).exists():
        return configs
    data = _read_json(global_path, "sonic.database_global")
    base = Path(global_path).parent
    for include in data.get("INCLUDES", []):
        namespace = include.get("namespace", "")
        if not namespace:
            continue  # the host namespace, already read from config_path
        configs.append(load_database_config(str((base / include["include"]).resolve()), namespace))
    return configs


def _read_json(path: str, field: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{field}: {path} not found") from None
    except OSError as exc:
        raise UserError(f"{field}: cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{field}: {path}: not valid JSON (line {exc.lineno})") from None
