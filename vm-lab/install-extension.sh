#!/usr/bin/env bash
# Install telegen-sonic into a running SONiC (VS container or VM) as an application extension.
# Usage: vm-lab/install-extension.sh NODE [IMAGE]   (NODE: a containerlab node's container name)
set -euo pipefail
node=${1:?usage: $0 NODE [IMAGE]}
image=${2:-telegen-sonic:latest}
docker save "$image" | docker exec -i "$node" bash -c 'cat > /tmp/telegen-sonic.tar'
docker exec "$node" sonic-package-manager install --from-tarball /tmp/telegen-sonic.tar -y
docker exec "$node" config feature state telegen-sonic enabled
docker exec "$node" show telegen probes
