"""Hostile config files and values: each one line naming what was wrong, exit 2, in bounded time
and memory (the CLI runs under RLIMIT_CPU and RLIMIT_AS: the old loader took 37 s and 2.45 GB
on the alias bomb and would be killed there)."""
from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from sonic_agent.config import RANGES, load_config
from sonic_agent.errors import UserError

CPU_LIMIT_S = 20
MEMORY_LIMIT = 1 << 30  # address space, bytes


def laughs(levels: int = 9) -> str:
    """The classic alias bomb as one config value: 9 levels of 9 aliases, ~400 bytes standing
    for 9^9 (387 million) strings."""
    lines = ["log_level:", '  - &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"  - &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def run_bounded(*argv):
    """The CLI in a child under CPU and address-space limits: (returncode, stderr, rusage)."""
    def limit():
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_S, CPU_LIMIT_S))
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    proc = subprocess.Popen([sys.executable, "-m", "sonic_agent", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=limit)
    _, err = proc.communicate(timeout=120)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return proc.returncode, err.decode(errors="replace"), usage


HOSTILE_FILES = {
    "alias bomb": (laughs().encode(), "more than 100000 values once YAML aliases are expanded"),
    "deep nesting": (b"log_level: " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "line 1: nested deeper than 32 levels"),
    "self-containing alias": (b"log_level: &a [*a]\n", "a YAML alias that contains itself"),
    "not UTF-8": (b"log_level: \xff\xfe\n", "not UTF-8 text (byte 0xff at offset 11)"),
    "binary": (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 16, "a NUL byte at offset 7 (not a text file?)"),
    "control character": (b"log_level: \x07\n", "character U+0007 at offset 11 is not allowed in YAML"),
    "a 5000-digit number": (b"tick_s: " + b"9" * 5000 + b"\n", "a number too long to read"),
    "huge integer for a float": (b"tick_s: " + b"9" * 400 + b"\n", "tick_s: must be a finite number, got a "),
    "NUL in a listen address": (b'export: {prometheus: {listen: "127.0.0.1\\0:9110"}}\n',
                                "export.prometheus.listen: contains a NUL byte"),
    "NUL in a path": (b'probes: {pin_dir: "/sys/fs/bpf/x\\0y"}\n', "probes.pin_dir: contains a NUL byte"),
    "larger than 1 MiB": (b"# " + b"x" * (1 << 20) + b"\n", "larger than 1 MiB"),
}


@pytest.mark.parametrize("name", list(HOSTILE_FILES))
def test_hostile_file_is_one_line(tmp_path, name):
    data, message = HOSTILE_FILES[name]
    path = tmp_path / "agent.yaml"
    path.write_bytes(data)
    with pytest.raises(UserError) as err:
        load_config(str(path), environ={})
    assert message in str(err.value)
    assert "\n" not in str(err.value) and len(str(err.value)) < 200


@pytest.mark.parametrize("name", ["alias bomb", "deep nesting", "binary", "not UTF-8"])
def test_hostile_file_through_the_cli_is_bounded(tmp_path, name):
    data, message = HOSTILE_FILES[name]
    path = tmp_path / "agent.yaml"
    path.write_bytes(data)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    code, err, after = run_bounded("run", "--config", str(path))
    assert code == 2, err[-2000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"telegen-sonic: config: {path}") and message in lines[0], err
    assert "Traceback" not in err
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    print(f"{name}: cpu_s={cpu:.2f} max_rss_mb={after.ru_maxrss / 1024:.0f}")


INTERVALS = [k for k in RANGES if k.endswith("_s")]


@pytest.mark.parametrize("key", INTERVALS)
@pytest.mark.parametrize("value", ["1e300", "1e-9"])
def test_intervals_and_timeouts_are_bounded(key, value):
    key = key.replace("*", "bgp")
    env = "TELEGEN_" + key.upper().replace(".", "__")
    with pytest.raises(UserError) as err:
        load_config(None, environ={env: value})
    low, high = RANGES[key.replace(".bgp.", ".*.")]
    bound = f"<= {high}" if float(value) > 1 else f">= {low}"
    assert str(err.value) == f"config: {key}: must be {bound}, got {float(value)!r}"


def test_top_talker_sample_is_not_cut_to_32_bits():
    with pytest.raises(UserError) as err:
        load_config(None, environ={"TELEGEN_PROBES__TOP_TALKER_SAMPLE": str((1 << 32) + 1)})
    assert str(err.value) == "config: probes.top_talker_sample: must be <= 65536, got 4294967297"


def test_every_number_has_both_bounds_and_readme_states_them():
    readme = (os.path.dirname(__file__) + "/../README.md")
    text = open(readme).read()
    for key, (low, high) in RANGES.items():
        assert low is not None and high is not None, key
        assert f"| `{key}` | {low} .. {high} |" in text, f"README's range table lacks {key} {low} .. {high}"


def test_a_value_of_the_wrong_type_is_shown_cut():
    with pytest.raises(UserError) as err:
        load_config(None, environ={"TELEGEN_LOG_LEVEL": "[" + ", ".join(["x" * 50] * 100) + "]"})
    assert str(err.value) == "config: log_level: expected str, got list"
    with pytest.raises(UserError) as err:
        load_config(None, environ={"TELEGEN_TICK_S": "y" * 10_000})
    assert str(err.value) == "config: tick_s: expected float, got string '" + "y" * 36 + "..."


@pytest.mark.parametrize("listen, message", [
    ("host name:9110", "host must be an IP address or a host name, got 'host name'"),
    ("127.0.0.1:٩١١٠", "must be host:port, got '127.0.0.1:٩١١٠'"),
    ("[::1]:123456789", "port must be 0..65535, got 123456789"),
])
def test_listen_addresses_are_checked(listen, message):
    with pytest.raises(UserError) as err:
        load_config(None, environ={"TELEGEN_EXPORT__GNMI__LISTEN": listen})
    assert str(err.value) == f"config: export.gnmi.listen: {message}"


def test_anchors_within_bounds_still_work(tmp_path):
    path = tmp_path / "agent.yaml"
    path.write_text("families:\n  bgp: &fast {refresh_s: 0.5}\n  bfd: *fast\n")
    cfg = load_config(str(path), environ={})
    assert cfg.families.bgp.refresh_s == cfg.families.bfd.refresh_s == 0.5
