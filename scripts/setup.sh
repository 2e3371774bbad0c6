#!/usr/bin/env bash
# Idempotent set-up for a Debian 12 machine, run as root: Debian packages, the project's
# virtualenv with the agent, its test extras and the lab, and the CO-RE eBPF objects.
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  python3 python3-venv python3-dev        # the interpreter a SONiC container would carry
  clang llvm libbpf-dev                   # build the CO-RE eBPF objects, x86 and arm64 (README: loader)
  bpftool                                 # the tests' view of attached programs (bpftool net)
  libbpf1                                 # the one loader, used through ctypes at run time
  redis-server                            # SONiC's databases, for the lab and the tests
  iproute2 tshark prometheus              # netns/veth, decode cross-check, scrape peer
  procps curl                             # sysctl (probe tests), curl (README's lab scrape)
  mmdebstrap podman runc                  # make image: a Debian root filesystem, built and run without docker
  qemu-system-x86 busybox-static cpio     # make kernels: SONiC's kernels booted under QEMU (TCG)
  make ca-certificates
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# bpffs is where the agent pins its programs and maps across restarts.
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

venv=.venv
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
# The agent and the lab (vm-lab/, its own distribution) in one pip run, so the lab's
# `telegen-sonic` requirement is this checkout's. setuptools for building the agent's wheel
# offline (tests/test_packaging.py). Re-run when either pyproject.toml changes.
stamp="$venv/.installed-$(cat pyproject.toml vm-lab/pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  "$venv/bin/pip" install -q --upgrade pip 'setuptools>=77'
  "$venv/bin/pip" install -q -e '.[test]' -e ./vm-lab
  rm -f "$venv"/.installed-* && touch "$stamp"
fi

make -s -C bpf
