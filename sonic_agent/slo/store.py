"""The SLO history on disk: a compacted file and a journal, both JSON lines of the same records.

After each evaluation the engine appends what changed (the buckets and attribution slots it
touched, its counters and what its policies have fired) to `slo-journal.jsonl` and flushes it:
a killed agent loses at most the samples since the last evaluation (`slo.interval_s`). Every
`COMPACT_S`, or when the journal passes `JOURNAL_MAX_BYTES`, the whole state is written to a
temporary file, fsynced and renamed over `slo-history.jsonl`, and the journal emptied. Loading
replays the history then the journal; records carry their SLO's window and bucket size, and
those of a definition that changed are skipped (counted), as are lines that do not parse.
Records hold absolute values, so a record replayed twice changes nothing.
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Dict, Iterable, Iterator, List

log = logging.getLogger("telegen.slo.store")
HISTORY, JOURNAL = "slo-history.jsonl", "slo-journal.jsonl"
COMPACT_S = 3600.0
JOURNAL_MAX_BYTES = 8 << 20
MAX_LINE = 1 << 20  # a longer line is not ours: skipped
BUCKETS_PER_LINE = 1000


class Store:
    def __init__(self, directory: str):
        self.dir = Path(directory)
        self.counters = {"slo_state_records_loaded_total": 0, "slo_state_records_skipped_total": 0,
                         "slo_state_write_errors_total": 0, "slo_state_compactions_total": 0}
        self._journal = None
        self._compacted_at = time.monotonic()

    def load(self) -> Iterator[dict]:
        """Every record of the history, then of the journal, in order (bad lines skipped, counted)."""
        for name in (HISTORY, JOURNAL):
            path = self.dir / name
            try:
                handle = path.open("rb")
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("slo: cannot read %s: %s; starting without it", path, exc.strerror)
                continue
            with handle:
                for line in handle:
                    record = _parse(line)
                    if record is None:
                        self.counters["slo_state_records_skipped_total"] += 1
                        continue
                    self.counters["slo_state_records_loaded_total"] += 1
                    yield record

    def skipped(self) -> None:
        self.counters["slo_state_records_skipped_total"] += 1

    def append(self, records: Iterable[dict]) -> None:
        lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        if not lines:
            return
        try:
            if self._journal is None:
                self.dir.mkdir(parents=True, exist_ok=True)
                self._journal = (self.dir / JOURNAL).open("a")
            self._journal.write(lines)
            self._journal.flush()  # in the kernel now: a killed process loses nothing written
        except OSError as exc:
            self._failed("append to", exc)

    def due(self) -> bool:
        if time.monotonic() - self._compacted_at >= COMPACT_S:
            return True
        try:
            return (self.dir / JOURNAL).stat().st_size >= JOURNAL_MAX_BYTES
        except OSError:
            return False

    def compact(self, records: Iterable[dict]) -> None:
        """The whole state as the new history; the journal emptied."""
        self._compacted_at = time.monotonic()
        tmp = self.dir / (HISTORY + ".tmp")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            with tmp.open("w") as out:
                for r in records:
                    out.write(json.dumps(r, separators=(",", ":")) + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.dir / HISTORY)
            if self._journal is not None:
                self._journal.close()
            self._journal = (self.dir / JOURNAL).open("w")
            self.counters["slo_state_compactions_total"] += 1
        except OSError as exc:
            self._failed("compact", exc)

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def _failed(self, what: str, exc: OSError) -> None:
        self.counters["slo_state_write_errors_total"] += 1
        first = self.counters["slo_state_write_errors_total"] == 1
        (log.warning if first else log.debug)("slo: cannot %s %s: %s", what, self.dir, exc.strerror)


def _parse(line: bytes) -> Dict:
    if len(line) > MAX_LINE or not line.endswith(b"\n"):  # a torn last line: the crash cut it
        return None
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("slo"), str) else None


def bucket_lines(base: dict, buckets: List[list]) -> Iterator[dict]:
    for start in range(0, len(buckets), BUCKETS_PER_LINE):
        yield dict(base, b=buckets[start:start + BUCKETS_PER_LINE])
