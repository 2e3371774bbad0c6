"""The extension image as `make image` builds it (mmdebstrap + podman, no docker engine): the
docker-archive tarball sonic-package-manager installs, its label, what it carries, and the
manifest and CLI plugin rules, each shown to fail on a broken copy."""
from __future__ import annotations

import copy
import json
import re

import pytest

from docker.archive import MANIFEST_LABEL, ImageArchive
from docker.build import TARBALL
from docker.manifest_rules import problems
from tests.conftest import REPO, podman

pytestmark = pytest.mark.timeout(900)  # the first test builds the image on a fresh machine
MANIFEST = json.loads((REPO / "sonic-extension" / "manifest.json").read_text())
PLUGIN = MANIFEST["cli"]["show"]


@pytest.fixture(scope="session")
def archive(image_build) -> ImageArchive:
    return ImageArchive.open(TARBALL)


def test_tarball_loads_and_its_label_is_the_manifest(image_build):
    assert re.fullmatch(r"image=localhost/telegen-sonic:0\.1\.0 tarball=build/image/telegen-sonic\.tar "
                        r"size_mb=\d+\.\d tarball_mb=\d+\.\d", image_build), image_build
    loaded = podman("load", "--input", str(TARBALL), check=True)
    name = re.search(r"Loaded image(?:\(s\))?: (\S+)", loaded.stdout).group(1)
    inspect = json.loads(podman("image", "inspect", name, check=True).stdout)[0]
    assert json.loads(inspect["Labels"][MANIFEST_LABEL]) == MANIFEST


def test_tarball_has_the_layout_sonic_package_manager_reads(archive):
    """manifest.json[0].Config names the config, and the label is in it (docker/archive.py)."""
    assert archive.manifest() == MANIFEST
    assert archive.config["config"]["Entrypoint"] == ["telegen-sonic", "run"]


def test_image_carries_the_runtime_and_no_toolchain_scapy_or_lab(archive):
    paths = list(archive.kinds)
    for built in ("port_probe.bpf.o", "erspan_decoder.bpf.o", "erspan_decoder_5_10.bpf.o"):
        assert archive.exists(f"/usr/lib/telegen-sonic/bpf/x86/{built}")
    assert archive.exists("/usr/local/bin/telegen-sonic") and archive.exists(PLUGIN)
    assert archive.exists("/usr/lib/x86_64-linux-gnu/libbpf.so.1")
    unwanted = re.compile(r"^/usr/bin/(clang|llvm|gcc|cc|c\+\+|ld|as|bpftool)(-[0-9.]+)?$|^/usr/lib/(llvm-|gcc/)|"
                          r"^/usr/include/|^/usr/src/|/scapy/|/telegen_lab/")
    assert not [p for p in paths if unwanted.search(p)]
    assert not [p for p in paths if "/dictdiffer/" in p]  # pygnmi's client requirements stay out
    assert archive.exists("/usr/local/lib/python3.11/dist-packages/cryptography/__init__.py")  # TLS, Crypto-PAn


def test_the_manifest_and_plugin_keep_every_rule(archive):
    assert problems(archive.manifest(), archive.read) == []


def _without(section, key):
    def apply(m):
        del m[section][key]
    return apply


def _set(section, key, value):
    def apply(m):
        m[section][key] = value
    return apply


def _volumes_without(target):
    def apply(m):
        m["container"]["volumes"] = [v for v in m["container"]["volumes"] if v.split(":")[1] != target]
    return apply


BROKEN = {
    "no service.name": (_without("service", "name"), "service.name: a required field is missing"),
    "no package.name": (_without("package", "name"), "package.name: a required field is missing"),
    "a bad version": (_set("package", "version", "0.1"),
                      "package.version: '0.1' is not a semantic version (MAJOR.MINOR.PATCH)"),
    "a bad dependency": (_set("package", "depends", ["database=>1.0.0"]),
                         "package.depends[0]: 'database=>1.0.0': '=>1.0.0' is not a version constraint "
                         "(e.g. database^1.0.0)"),
    "a mount without type": (_set("container", "mounts", [{"source": "/a", "target": "/b"}]),
                             "container.mounts[0].type: a required field is missing"),
    "a plugin path absent from the image": (_set("cli", "show", "/cli/show/plugins/nothing.py"),
                                            "cli.show: /cli/show/plugins/nothing.py is not a file in the image"),
    "no bpffs volume": (_volumes_without("/sys/fs/bpf"),
                        "container.volumes: nothing mounts /sys/fs/bpf/telegen-sonic (bpffs (pinned maps, "
                        "probes.pin_dir))"),
    "no redis volume": (_volumes_without("/var/run/redis"),
                        "container.volumes: nothing mounts /var/run/redis/sonic-db/database_config.json (the "
                        "redis socket and database_config.json)"),
    "not privileged": (_set("container", "privileged", False),
                       "container.privileged: must be true (BPF programs, XDP and TC attachment)"),
    "an unknown setting": (_set("container", "environment", {"TELEGEN_HOST__PROCS": "/host/proc"}),
                           "container.environment: config: unknown key 'host.procs'"),
}


@pytest.mark.parametrize("broken", BROKEN, ids=list(BROKEN))
def test_each_rule_fails_on_a_broken_copy(archive, broken):
    mutate, expected = BROKEN[broken]
    manifest = copy.deepcopy(archive.manifest())
    mutate(manifest)
    assert problems(manifest, archive.read) == [expected]


def test_a_plugin_without_register_fails(archive):
    source = archive.read(PLUGIN).decode()
    assert "def register(cli):" in source
    renamed = source.replace("def register(cli):", "def install(cli):").encode()
    assert problems(archive.manifest(), lambda p: renamed if p == PLUGIN else archive.read(p)) == \
        [f"cli.show: {PLUGIN} defines no register(cli)"]
