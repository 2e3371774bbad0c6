# The two commands in README.md: `make lab` (the main job) and `make test`.
# Both run scripts/setup.sh first, which installs what they need and is idempotent.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup lab test test-long bench bpf clean image

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

# The SONiC extension image (needs a docker engine; not available on the build VMs).
image:
	docker build -f docker/Dockerfile -t telegen-sonic:latest \
	  --build-arg MANIFEST="$$(python3 -c 'import json;print(json.dumps(json.load(open("sonic-extension/manifest.json"))))')" .
