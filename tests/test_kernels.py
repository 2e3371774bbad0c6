"""`make kernels` (kernels/matrix.py): the extension image's agent on SONiC's kernels under
QEMU, and on this machine's: every object loads and attaches, every frame is counted, the
agent serves and leaves clean; kernel drop reasons only from 5.17 on (so not on 5.10)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO, require

LINE = re.compile(r"kernel=(?P<release>\S+) loaded=(?P<loaded>\w+) attached=(?P<attached>\w+) "
                  r"counted=(?P<counted>\d+)/(?P<sent>\d+) probe_ns=(?P<probe_ns>\d+) decode_ns=(?P<decode_ns>\d+) "
                  r"drop_reasons=(?P<drop_reasons>\w+) agent=(?P<agent>\S+)")


@pytest.mark.timeout(2400)
def test_every_kernel_loads_counts_and_serves(image_build):
    for tool in ("qemu-system-x86_64", "cpio", "busybox"):
        require(shutil.which(tool) is not None, f"needs {tool} (scripts/setup.sh installs it)")
    done = subprocess.run([sys.executable, "-m", "kernels.matrix"], cwd=REPO, capture_output=True, text=True,
                          timeout=2300)
    lines = [LINE.fullmatch(line) for line in done.stdout.splitlines()]
    assert all(lines) and len(lines) == 4, done.stdout + done.stderr[-3000:]
    by_series = {re.match(r"\d+\.\d+", m["release"])[0]: m for m in lines[:3]}
    assert sorted(by_series) == ["5.10", "6.1", "6.12"], done.stdout
    for series, m in [*by_series.items(), ("host", lines[3])]:
        assert (m["loaded"], m["attached"], m["agent"]) == ("yes", "yes", "ok"), (series, m[0])
        assert m["counted"] == m["sent"] != "0", (series, m[0])
        assert m["drop_reasons"] == ("no" if series == "5.10" else "yes"), (series, m[0])
    assert done.returncode == 0, done.stderr[-3000:]
