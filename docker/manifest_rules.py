"""sonic-package-manager's rules for a package manifest and its CLI plugins, checked before an
image ships (`make image` runs them on the built tarball; tests/test_image.py breaks them).

From sonic-utilities' sonic_package_manager (manifest.py, constraint.py, manager.py) and
utilities_common/util_base.py: `package.version`, `package.name` and `service.name` are
required; versions are semantic versions; `depends`/`breaks` are "name" plus a constraint in
its syntax (`database^1.0.0`, `swss>=1.0.0 <2.0.0`), parsed with the library it uses
(poetry-semver, imported as `semver`); every mount has source, target and type; each
`cli.show|config|clear` path is a file in the image, copied to the host's
`<command>/plugins/<package>.py`, imported there and called as `register(cli)`. Ours: the
container must be privileged, mount what the agent reads, and set only TELEGEN_* settings
the agent accepts.
"""
from __future__ import annotations

import ast
import re
from typing import Callable, List, Optional

import semver

from sonic_agent.config import OPERATOR_CONFIG, ProbesConfig, SonicConfig, load_config
from sonic_agent.errors import UserError
from sonic_agent.sonic.to_records import SONIC_VERSION_FILE

# semver.org's own pattern: MAJOR.MINOR.PATCH[-pre][+build]
SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?")
PACKAGE_CONSTRAINT = re.compile(r"(?P<name>[A-Za-z0-9_-]+)(?P<constraint>.*)")  # constraint.py
CLI_COMMANDS = ("show", "config", "clear")
# What the agent reads in the container (its config's defaults, the SONiC version file, the
# operator's config): each must lie under a volume's target.
AGENT_READS = {
    SonicConfig.database_config: "the redis socket and database_config.json",
    ProbesConfig.pin_dir: "bpffs (pinned maps, probes.pin_dir)",
    "/sys/kernel/tracing": "tracefs",
    OPERATOR_CONFIG: "the agent's config",
    SONIC_VERSION_FILE: "the SONiC version (sonic_device_info)",
}


def _version(value, where: str) -> Optional[str]:
    if not isinstance(value, str) or not SEMVER.fullmatch(value):
        return f"{where}: {value!r} is not a semantic version (MAJOR.MINOR.PATCH)"
    return None


def _constraint(value, where: str) -> Optional[str]:
    if isinstance(value, dict):  # {"name": ..., "version": ..., "components": {...}}
        name, expression = value.get("name"), value.get("version") or "*"
    elif isinstance(value, str):
        match = PACKAGE_CONSTRAINT.match(value)
        name, expression = (match["name"], match["constraint"] or "*") if match else (None, "")
    else:
        return f"{where}: {value!r} is neither a string nor an object"
    if not name:
        return f"{where}: {value!r} names no package"
    try:
        semver.parse_constraint(expression)
    except ValueError:
        return f"{where}: {value!r}: {expression!r} is not a version constraint (e.g. database^1.0.0)"
    return None


def _plugin(path: str, read: Callable[[str], Optional[bytes]], where: str) -> Optional[str]:
    """A CLI plugin: a file in the image, Python defining a top-level register(cli)."""
    data = read(path)
    if data is None:
        return f"{where}: {path} is not a file in the image"
    try:
        tree = ast.parse(data, filename=path)
    except SyntaxError as exc:
        return f"{where}: {path} is not valid Python (line {exc.lineno})"
    register = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "register"]
    if not register or len(register[0].args.args) != 1:
        return f"{where}: {path} defines no register(cli)"
    return None


def _volumes(container: dict) -> List[str]:
    problems, targets = [], []
    for i, volume in enumerate(container.get("volumes") or []):
        parts = volume.split(":") if isinstance(volume, str) else []
        if len(parts) not in (2, 3) or not all(p.startswith("/") for p in parts[:2]):
            problems.append(f"container.volumes[{i}]: {volume!r} is not SOURCE:TARGET[:MODE]")
        else:
            targets.append(parts[1].rstrip("/") or "/")
    for path, what in AGENT_READS.items():
        if not any(path == t or path.startswith(t.rstrip("/") + "/") for t in targets):
            problems.append(f"container.volumes: nothing mounts {path} ({what})")
    return problems


def problems(manifest: dict, read: Callable[[str], Optional[bytes]]) -> List[str]:
    """Every broken rule, one line each (empty: the manifest installs). `read(path)` gives a
    file of the image, None when it has none."""
    if not isinstance(manifest, dict):
        return ["manifest: not a JSON object"]
    out: List[Optional[str]] = [_version(manifest.get("version", "1.0.0"), "version")]
    package, service = manifest.get("package") or {}, manifest.get("service") or {}
    container, cli = manifest.get("container") or {}, manifest.get("cli") or {}
    out.append(_version(package.get("version"), "package.version") if "version" in package
               else "package.version: a required field is missing")
    for key, section in (("package.name", package), ("service.name", service)):
        name = section.get("name")
        if name is None:
            out.append(f"{key}: a required field is missing")
        elif not isinstance(name, str) or not name:
            out.append(f"{key}: {name!r} is not a name")
    for key in ("depends", "breaks"):
        entries = package.get(key) or []
        if not isinstance(entries, list):
            out.append(f"package.{key}: not a list")
            continue
        out += [_constraint(c, f"package.{key}[{i}]") for i, c in enumerate(entries)]
    for component, expression in (package.get("base-os") or {}).items():
        out.append(_constraint(f"{component}{expression}", f"package.base-os.{component}"))
    for i, mount in enumerate(container.get("mounts") or []):
        for field in ("source", "target", "type"):
            if not isinstance((mount or {}).get(field), str):
                out.append(f"container.mounts[{i}].{field}: a required field is missing")
    if container.get("privileged") is not True:
        out.append("container.privileged: must be true (BPF programs, XDP and TC attachment)")
    out += _volumes(container)
    try:  # the environment's TELEGEN_* settings, type-checked as the agent will
        load_config(None, {k: str(v) for k, v in (container.get("environment") or {}).items()})
    except UserError as exc:
        out.append(f"container.environment: {exc}")
    for command in CLI_COMMANDS:
        paths = cli.get(command) or []
        for i, path in enumerate([paths] if isinstance(paths, str) else paths):
            out.append(_plugin(path, read, f"cli.{command}" + (f"[{i}]" if not isinstance(paths, str) else "")))
    return [p for p in out if p]
