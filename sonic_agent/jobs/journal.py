"""The job journal: which CONFIG_DB keys each running job wrote, on disk before they are written.

One JSON file (`jobs.journal`), replaced whole (written beside it, fsynced, renamed) on every
change, so a crash leaves the old or the new one, never half. The next start reads it and
removes every key it names (with `JobWriter.own_keys`, which finds the job prefixes in
CONFIG_DB, it covers a crash between the two writes too). An unreadable journal is logged
and read as empty: the prefix scan still finds what a job wrote.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Dict, List, Mapping

from ..errors import UserError
from .switch import JobWriter

log = logging.getLogger("telegen.jobs")


class Journal:
    def __init__(self, path: str):
        self.path = Path(path)
        self._entries: Dict[str, dict] = {}

    def load(self) -> Dict[str, dict]:
        """{job id: {"namespace", "keys", "ends"}} a previous instance left."""
        try:
            data = json.loads(self.path.read_text())
            entries = data["jobs"] if isinstance(data, dict) and isinstance(data.get("jobs"), dict) else {}
        except FileNotFoundError:
            entries = {}
        except (OSError, ValueError) as exc:
            log.warning("jobs: journal %s unreadable (%s); cleaning by the job prefixes only", self.path, exc)
            entries = {}
        self._entries = {job: e for job, e in entries.items()
                         if isinstance(e, dict) and isinstance(e.get("keys"), list)}
        return dict(self._entries)

    def record(self, job_id: str, namespace: str, keys: List[str], ends: float) -> None:
        self._entries[job_id] = {"namespace": namespace, "keys": list(keys), "ends": ends}
        self._write()

    def forget(self, *job_ids: str) -> None:
        for job_id in job_ids:
            self._entries.pop(job_id, None)
        self._write()

    def _write(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w") as fh:
                json.dump({"version": 1, "jobs": self._entries}, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise UserError(f"jobs.journal: cannot write {self.path}: {exc.strerror}") from None


def remove_leftovers(journal: Journal, writers: Mapping[str, JobWriter]) -> int:
    """What a dead instance left: the journal's keys and every key with a job prefix, in every
    namespace (`writers` by namespace); the journal emptied. Returns the keys removed; redis
    errors propagate (the caller retries)."""
    left = journal.load()
    removed = 0
    for namespace, writer in writers.items():
        keys = set(writer.own_keys())
        keys.update(k for e in left.values() if e.get("namespace", "") == namespace for k in e["keys"])
        removed += writer.remove(sorted(keys))
    journal.forget(*left)
    if removed or left:
        log.warning("jobs: removed what a previous instance left in CONFIG_DB", extra={"keys": removed,
                                                                                      "jobs": sorted(left)})
    return removed
