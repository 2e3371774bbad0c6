"""A docker-archive tarball (`podman save --format docker-archive`) read the way
`sonic-package-manager install --from-tarball` reads it: `manifest.json[0].Config` names the
image config, whose `config.Labels["com.azure.sonic.manifest"]` holds the package manifest;
`Layers` are tars applied in order (a `.wh.` entry deletes what an earlier layer had).
"""
from __future__ import annotations

import json
import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

MANIFEST_LABEL = "com.azure.sonic.manifest"
WHITEOUT = ".wh."


@dataclass
class ImageArchive:
    """The image config and the final file tree of a docker-archive tarball."""

    path: Path
    config: dict
    files: Dict[str, Tuple[str, str]]  # absolute path in the image -> (layer member, entry name)
    kinds: Dict[str, str]  # absolute path -> "file", "dir", "link"
    size: int  # bytes of all layers, as unpacked: the image's size

    @classmethod
    def open(cls, path) -> "ImageArchive":
        with tarfile.open(path) as outer:
            index = json.load(outer.extractfile("manifest.json"))
            if not isinstance(index, list) or not index or "Config" not in index[0]:
                raise ValueError(f"{path}: manifest.json is not a docker-archive index")
            config = json.load(outer.extractfile(index[0]["Config"]))
            files: Dict[str, Tuple[str, str]] = {}
            kinds: Dict[str, str] = {}
            size = 0
            for layer in index[0]["Layers"]:
                with tarfile.open(fileobj=outer.extractfile(layer)) as tar:
                    for entry in tar:
                        name = "/" + posixpath.normpath(entry.name).lstrip("./")
                        base = posixpath.basename(name)
                        if base.startswith(WHITEOUT):
                            gone = posixpath.join(posixpath.dirname(name), base[len(WHITEOUT):])
                            for p in [p for p in kinds if p == gone or p.startswith(gone + "/")]:
                                kinds.pop(p)
                                files.pop(p, None)
                            continue
                        kinds[name] = "dir" if entry.isdir() else "file" if entry.isfile() else "link"
                        size += entry.size
                        if entry.isfile():
                            files[name] = (layer, entry.name)
        return cls(Path(path), config, files, kinds, size)

    @property
    def labels(self) -> Dict[str, str]:
        return (self.config.get("config") or {}).get("Labels") or {}

    def manifest(self) -> dict:
        """The package manifest the label holds (JSON)."""
        if MANIFEST_LABEL not in self.labels:
            raise ValueError(f"{self.path}: no {MANIFEST_LABEL} label")
        return json.loads(self.labels[MANIFEST_LABEL])

    def read(self, path: str) -> Optional[bytes]:
        """A regular file's bytes; None when the image has no such file."""
        if path not in self.files:
            return None
        layer, name = self.files[path]
        with tarfile.open(self.path) as outer, tarfile.open(fileobj=outer.extractfile(layer)) as tar:
            return tar.extractfile(name).read()

    def exists(self, path: str) -> bool:
        return posixpath.normpath(path) in self.kinds
