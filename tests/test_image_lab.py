"""The extension image run for real on the lab, as SONiC runs an extension: podman (standing in
for docker, which has no engine here), privileged, in the lab switch's network namespace, with
the manifest's volumes and environment, the lab's redis directory where the manifest mounts
/var/run/redis and a config in /etc/telegen-sonic. It probes every lab port, serves /metrics
and gNMI (TLS, password), answers `show telegen probes` through the CLI plugin loaded the way
sonic-utilities loads plugins (`docker` resolving to podman), leaves nothing attached after
SIGTERM and stacks nothing after a SIGKILL and a restart."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from docker.archive import ImageArchive
from docker.build import CONTAINERS_CONF, TARBALL
from telegen_lab.control import DEFAULT_CONFIG_DB
from tests.conftest import built_in_lab, podman, wait_until
from tests.export.certs import make_certs
from tests.export.gnmi_client import MARK, start
from tests.export.prometheus_peer import enter_netns
from tests.probes.conftest import send_frames
from tests.test_agent_probes import _one_each, _program_ids, _programs
from tests.test_image import MANIFEST, PLUGIN

pytestmark = pytest.mark.timeout(900)  # the image build, when this module runs first
CONTAINER = MANIFEST["service"]["name"]  # what the plugin's `docker exec` names
METRICS, GNMI = 9112, 50061
PORTS = sorted(json.loads(DEFAULT_CONFIG_DB.read_text())["PORT"])
DEVICES = set(PORTS) | {"PortChannel0001", "Vlan1000", "eth0"}
LLDP = (b"\x01\x80\xc2\x00\x00\x0e" + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xcc").ljust(64, b"\0")
PLUGIN_LOADER = """
import importlib, pkgutil, sys
import click
import show.plugins as plugins

@click.group()
def cli():
    pass

for _, name, _ in pkgutil.iter_modules(plugins.__path__, plugins.__name__ + "."):  # as util_base.load_plugins
    importlib.import_module(name).register(cli)
cli(sys.argv[1:])
"""


@pytest.fixture(scope="module")
def image(image_build) -> str:
    """The image, loaded into podman from the tarball `make image` wrote."""
    out = podman("load", "--input", str(TARBALL), check=True).stdout
    return out.strip().split()[-1]


@pytest.fixture(scope="module")
def switch(image, tmp_path_factory):
    """The lab switch, the config and certificates for the container, the container's argv."""
    with built_in_lab("i") as lab:
        conf = tmp_path_factory.mktemp("etc-telegen-sonic")
        certs = make_certs(conf)
        conf.joinpath("telegen-sonic.yaml").write_text(yaml.safe_dump({
            "probes": {"pin_dir": f"/sys/fs/bpf/telegen-sonic-{lab.name}"},
            "export": {"prometheus": {"listen": f"127.0.0.1:{METRICS}"},
                       "gnmi": {"enabled": True, "listen": f"127.0.0.1:{GNMI}", "username": "admin",
                                "password": "s3cret", "tls": {"cert": "/etc/telegen-sonic/server.pem",
                                                              "key": "/etc/telegen-sonic/server.key"}}}}))
        etc_sonic = tmp_path_factory.mktemp("etc-sonic")
        etc_sonic.joinpath("sonic_version.yml").write_text("build_version: 'lab'\n")
        state = tmp_path_factory.mktemp("var-lib-telegen-sonic")  # docker would create it; podman wants it there
        sources = {"/var/run/redis": str(lab.redis_dir), "/etc/telegen-sonic": str(conf), "/etc/sonic": str(etc_sonic),
                   "/var/lib/telegen-sonic": str(state)}
        container = MANIFEST["container"]
        argv = ["run", "--detach", "--name", CONTAINER, "--network", f"ns:/run/netns/{lab.switch_ns}"]
        argv += ["--privileged"] if container["privileged"] else []
        for volume in container["volumes"]:
            source, target, *mode = volume.split(":")
            argv += ["--volume", ":".join([sources.get(source, source), target, *mode])]
        for name, value in container["environment"].items():
            argv += ["--env", f"{name}={value}"]
        podman("rm", "--force", CONTAINER)
        try:
            yield lab, certs, [*argv, image]
        finally:
            podman("rm", "--force", CONTAINER)
            subprocess.run(["rm", "-rf", f"/sys/fs/bpf/telegen-sonic-{lab.name}"], check=False)


def metrics(lab):
    """The samples of the container's /metrics, from inside the switch namespace ([] if none yet)."""
    with ThreadPoolExecutor(1, initializer=enter_netns, initargs=(lab.switch_ns,)) as pool:
        try:
            text = pool.submit(requests.get, f"http://127.0.0.1:{METRICS}/metrics", timeout=2).result().text
        except requests.ConnectionError:
            return []
    return [s for f in text_string_to_metric_families(text) for s in f.samples]


def attached(lab):
    return all(_one_each(_programs(lab), dev) for dev in DEVICES)


def logs():
    return podman("logs", "--tail", "20", CONTAINER).stderr[-3000:]


def test_the_container_probes_serves_and_answers_the_plugin(switch, tmp_path):
    lab, certs, run = switch
    podman(*run, check=True)
    assert wait_until(lambda: attached(lab), 60), (_programs(lab), logs())
    assert set(_programs(lab)) == DEVICES

    for port in PORTS:
        send_frames(lab.neighbor_ns, port, [LLDP] * 3)

    def lldp_rx():
        return {s.labels["port"]: s.value for s in metrics(lab) if s.name == "telegen_probe_packets_total"
                and s.labels.get("class") == "lldp" and s.labels.get("direction") == "rx" and s.labels["port"] in PORTS}

    assert wait_until(lambda: lldp_rx() == {p: 3.0 for p in PORTS}, 10), lldp_rx()
    info = {s.labels["port"] for s in metrics(lab) if s.name == "sonic_port_info"}
    assert set(PORTS) <= info

    spec = {"port": GNMI, "ca": certs.ca, "username": "admin", "password": "s3cret", "scenario": "capabilities"}
    for scenario, extra in (("capabilities", {}),
                            ("get_paths", {"paths": [f"/interfaces/interface[name={PORTS[0]}]/state/oper-status"]})):
        proc = start({**spec, "scenario": scenario, **extra}, prefix=("nsenter", f"--net=/run/netns/{lab.switch_ns}"))
        out, err = proc.communicate(timeout=60)
        (result,) = [json.loads(line[len(MARK):]) for line in out.splitlines() if line.startswith(MARK)] or [err]
        if scenario == "capabilities":
            assert "json_ietf" in result["result"]["supported_encodings"], result
        else:
            updates = result["json_ietf"]["notification"][0]["update"]
            assert updates == [{"path": f"interfaces/interface[name={PORTS[0]}]/state/oper-status", "val": "UP"}]
    wrong = start({**spec, "password": "nope"}, prefix=("nsenter", f"--net=/run/netns/{lab.switch_ns}"))
    assert f'{MARK}{{"error": "UNAUTHENTICATED"}}' in wrong.communicate(timeout=60)[0]

    # the plugin, installed as sonic-package-manager installs it (show/plugins/<package>.py)
    plugins = tmp_path / "cli" / "show" / "plugins"
    plugins.mkdir(parents=True)
    for package in (plugins.parent, plugins):
        package.joinpath("__init__.py").write_text("")
    plugins.joinpath(f"{MANIFEST['package']['name']}.py").write_bytes(ImageArchive.open(TARBALL).read(PLUGIN))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    bin_dir.joinpath("docker").write_text(f'#!/bin/sh\nCONTAINERS_CONF={CONTAINERS_CONF} exec podman "$@"\n')
    bin_dir.joinpath("docker").chmod(0o755)
    shown = subprocess.run([sys.executable, "-c", PLUGIN_LOADER, "telegen", "probes"], cwd=tmp_path / "cli",
                           env=dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}",
                                    PYTHONPATH=str(tmp_path / "cli")), capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    rows = [line.split() for line in shown.stdout.splitlines()[1:]]
    assert {(r[0], r[1], r[2], r[3]) for r in rows if r[2] == "lldp"} == {(p, "rx", "lldp", "3") for p in PORTS}

    podman("stop", "--time", "30", CONTAINER, check=True)
    assert podman("inspect", "--format", "{{.State.ExitCode}}", CONTAINER).stdout.strip() == "0", logs()
    assert {dev: n for dev, n in _programs(lab).items() if n != (0, 0)} == {}, "programs left after SIGTERM"


def test_a_restart_after_sigkill_stacks_nothing(switch):
    lab, _, run = switch
    podman("rm", "--force", CONTAINER)
    podman(*run, check=True)
    assert wait_until(lambda: attached(lab), 60), (_programs(lab), logs())
    podman("kill", "--signal", "KILL", CONTAINER, check=True)
    podman("wait", CONTAINER)
    assert attached(lab)  # the killed agent's programs stay on the devices
    killed = _program_ids(lab)
    podman("start", CONTAINER, check=True)
    assert wait_until(lambda: not _program_ids(lab) & killed and attached(lab), 60), (_programs(lab), logs())
    assert set(_programs(lab)) == DEVICES
    podman("stop", "--time", "30", CONTAINER, check=True)
    assert {dev: n for dev, n in _programs(lab).items() if n != (0, 0)} == {}, "programs left after SIGTERM"
