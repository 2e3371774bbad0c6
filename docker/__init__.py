"""The SONiC extension image, built without a docker engine (`make image`), and its checks.

`build` makes the image (an mmdebstrap root filesystem, podman, a docker-archive tarball),
`archive` reads such a tarball the way sonic-package-manager does, `manifest_rules` checks
sonic-extension/manifest.json and the CLI plugins against sonic-package-manager's rules.
"""
