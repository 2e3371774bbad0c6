"""Packaging: the SONiC extension manifest and the CLI plugin (no docker engine runs here,
so the image itself is not built in tests; the manifest is checked against the schema
sonic-package-manager applies)."""
import ast
import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_manifest_has_what_sonic_package_manager_requires():
    manifest = json.loads((REPO / "sonic-extension" / "manifest.json").read_text())
    assert manifest["package"]["name"] == "telegen-sonic"
    assert manifest["package"]["version"]
    assert manifest["service"]["name"] == "telegen-sonic"
    assert "database" in manifest["service"]["requires"]
    volumes = manifest["container"]["volumes"]
    assert any(v.startswith("/var/run/redis:/var/run/redis") for v in volumes)
    assert any(v.startswith("/sys/fs/bpf:") for v in volumes)
    assert manifest["container"]["privileged"] is True
    show = manifest["cli"]["show"]
    assert show.endswith("show_telegen.py")
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert f"sonic-extension/cli/show_telegen.py {show}" in dockerfile
    assert "com.azure.sonic.manifest" in dockerfile


def test_cli_plugin_defines_register():
    tree = ast.parse((REPO / "sonic-extension" / "cli" / "show_telegen.py").read_text())
    assert "register" in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


def test_package_version_matches_manifest():
    import sonic_agent
    manifest = json.loads((REPO / "sonic-extension" / "manifest.json").read_text())
    assert manifest["package"]["version"] == sonic_agent.__version__
