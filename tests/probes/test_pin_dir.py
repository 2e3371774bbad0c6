"""The pin directory on bpffs (mode 1777 here): made 0700 and ours; a pre-created directory or
pin, one owned by someone else, writable by others, a symlink, or not on bpffs at all is one
line naming what was found (it was a traceback at start, or pins someone could delete)."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from sonic_agent.errors import UserError
from sonic_agent.probes import kernel as k
from sonic_agent.probes.pins import prepare
from tests.conftest import require, require_root

NOBODY = 65534


@pytest.fixture
def under_bpffs():
    require_root()
    require(os.path.ismount("/sys/fs/bpf"), "needs bpffs at /sys/fs/bpf")
    path = Path("/sys/fs/bpf") / f"telegen-pins-{uuid.uuid4().hex[:8]}"
    yield path
    if path.is_symlink():
        path.unlink()
    shutil.rmtree(path, ignore_errors=True)


def refused(path, message):
    with pytest.raises(UserError) as err:
        prepare(str(path), k.PINNED_MAPS)
    assert str(err.value).startswith(f"probes.pin_dir {path}: ") and message in str(err.value), str(err.value)
    assert "\n" not in str(err.value)


def test_created_mode_0700_and_ours(under_bpffs):
    assert stat.S_IMODE(os.stat("/sys/fs/bpf").st_mode) & 0o1777 == 0o1777  # the hostile setting
    prepare(str(under_bpffs), k.PINNED_MAPS)
    info = os.lstat(under_bpffs)
    assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o700, os.geteuid())
    prepare(str(under_bpffs), k.PINNED_MAPS)  # again: it is ours


def test_a_directory_someone_else_made_is_refused(under_bpffs):
    under_bpffs.mkdir()
    os.chown(under_bpffs, NOBODY, NOBODY)
    refused(under_bpffs, f"the directory is owned by uid {NOBODY}, not by this agent's uid 0")


def test_a_directory_others_may_write_is_refused(under_bpffs):
    under_bpffs.mkdir()
    under_bpffs.chmod(0o777)
    refused(under_bpffs, "the directory is writable by others (mode 0777)")


def test_a_symlink_is_refused(under_bpffs, tmp_path):
    under_bpffs.symlink_to("/sys/fs/bpf")
    refused(under_bpffs, "the directory is a symlink")


def test_a_directory_at_a_pin_name_is_refused(under_bpffs):
    prepare(str(under_bpffs), k.PINNED_MAPS)
    (under_bpffs / k.MAP_PORTS).mkdir()
    refused(under_bpffs, f"pin {k.MAP_PORTS} is a directory: remove it")


def test_not_on_bpffs_is_one_line_from_the_agent(tmp_path, redis_server):
    require_root()
    db_config = redis_server.write_database_config()
    config = tmp_path / "agent.yaml"
    config.write_text(f"sonic: {{database_config: {db_config}, database_global: {tmp_path}/none.json}}\n"
                      f"probes: {{pin_dir: {tmp_path}/pins, management_interface: null}}\n"
                      "export: {prometheus: {listen: '127.0.0.1:0'}}\n")
    result = subprocess.run([sys.executable, "-m", "sonic_agent", "run", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"telegen-sonic: probes.pin_dir {tmp_path}/pins: {tmp_path} is not a bpf filesystem: mount one "
        "(mount -t bpf bpf /sys/fs/bpf), or, under `ip netns exec` (which remounts /sys without it), enter only "
        "the network namespace: nsenter --net=/run/netns/NAME")
