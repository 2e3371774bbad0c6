# The two commands in README.md: `make lab` (the main job) and `make test`.
# Both run scripts/setup.sh first, which installs what they need and is idempotent.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup lab test test-long bench bpf clean image kernels

setup:
	@bash scripts/setup.sh

lab: setup
	$(VENV)/bin/telegen-sonic lab run

test: setup
	$(PY) -m pytest -q -ra

test-long: setup
	$(PY) -m pytest -q -ra -m long

bpf:
	@$(MAKE) -s -C bpf

clean:
	@$(MAKE) -s -C bpf clean
	rm -rf $(VENV) build *.egg-info vm-lab/build vm-lab/*.egg-info

# The SONiC extension image, without a docker engine: mmdebstrap + podman, written as the
# docker-archive tarball sonic-package-manager installs (build/image/telegen-sonic.tar).
image: setup
	$(PY) -m docker.build

# The agent on SONiC's kernels (5.10, 6.1, 6.12) under QEMU, and on this one: one line each.
kernels: image
	$(PY) -m kernels.matrix
