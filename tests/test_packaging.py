"""Packaging: the agent's wheel (the agent and the erspan library, not the lab) and its version,
the one the extension manifest names (the image and the manifest rules: tests/test_image.py)."""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", ".hypothesis",
                                    ".pytest_cache")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The agent's wheel, built offline (no build isolation: setup.sh puts setuptools in the venv)
    from a copy of the checkout, so no earlier build/ directory can leak into it."""
    tmp = tmp_path_factory.mktemp("wheel")
    shutil.copytree(REPO, tmp / "src", ignore=NOT_SOURCE)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp / "dist"), str(tmp / "src")], check=True, capture_output=True)
    (path,) = (tmp / "dist").glob("*.whl")
    return path


def test_wheel_holds_the_agent_and_erspan_only(wheel):
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        metadata = next(whl.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
        sources = {n: whl.read(n) for n in names if n.endswith(".py")}
    assert wheel.name.startswith("telegen_sonic-")
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == {"sonic_agent", "erspan"}
    assert not [n for n in names if "lab" in n.split("/")[:-1] or n.endswith("default_config_db.json")]
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert "Requires-Dist: redis>=4.5" in requires
    assert not [line for line in requires if "scapy" in line.lower() or "lab" in line.lower()]
    assert not [n for n, text in sources.items() if b"scapy" in text.lower()]


def test_lab_verbs_without_the_lab_say_so_in_one_line(wheel, tmp_path):
    """The wheel alone (its requirements from the venv, no .pth files, so neither the
    checkout's editable agent nor the lab): `telegen-sonic lab ...` names what is missing."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(wheel), sysconfig.get_paths()["purelib"]]))
    for verb in (["status"], ["up"], ["traffic", "--kind", "data"], ["run", "--duration", "1"]):
        result = subprocess.run([sys.executable, "-S", "-m", "sonic_agent", "lab", *verb], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
        assert (result.returncode, result.stdout) == (2, ""), result.stderr
        assert result.stderr == ("telegen-sonic: lab: not installed (pip install ./vm-lab, or run from a checkout "
                                 "with make setup)\n")
    check = subprocess.run([sys.executable, "-S", "-c", "import sonic_agent; print(sonic_agent.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert check.stdout.startswith(str(wheel))


def test_package_version_matches_manifest():
    import sonic_agent
    manifest = json.loads((REPO / "sonic-extension" / "manifest.json").read_text())
    assert manifest["package"]["version"] == sonic_agent.__version__
