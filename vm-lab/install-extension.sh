#!/usr/bin/env bash
# Install telegen-sonic into a running SONiC (VS container or VM) as an application extension,
# from the docker-archive tarball `make image` writes (sonic-package-manager --from-tarball).
# Usage: vm-lab/install-extension.sh NODE [TARBALL]   (NODE: a containerlab node's container name)
set -euo pipefail
node=${1:?usage: $0 NODE [TARBALL]}
tarball=${2:-build/image/telegen-sonic.tar}
docker cp "$tarball" "$node:/tmp/telegen-sonic.tar"
docker exec "$node" sonic-package-manager install --from-tarball /tmp/telegen-sonic.tar -y
docker exec "$node" config feature state telegen-sonic enabled
docker exec "$node" show telegen probes
