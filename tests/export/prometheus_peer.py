"""Debian's Prometheus as a real scraper: a temp config, one target, the HTTP API to query.

Reusable by the lab's end-to-end test: `PrometheusServer(tmp_path, "127.0.0.1:9110").start()`.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import List

import requests

from tests.conftest import require


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrometheusServer:
    def __init__(self, workdir: Path, target: str):
        require(shutil.which("prometheus") is not None, "needs Debian's prometheus (apt-get install prometheus)")
        self.dir = workdir
        self.target = target
        self.url = f"http://127.0.0.1:{free_port()}"
        self.proc = None

    def start(self) -> "PrometheusServer":
        config = self.dir / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
            f"scrape_configs:\n  - job_name: telegen\n    static_configs: [{{targets: ['{self.target}']}}]\n")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={self.dir / 'tsdb'}",
             f"--web.listen-address={self.url[len('http://'):]}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=open(self.dir / "prometheus.log", "wb"))
        self.wait(lambda: requests.get(self.url + "/-/ready", timeout=1).status_code == 200, 30, "ready")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def targets(self) -> List[dict]:
        return requests.get(self.url + "/api/v1/targets", timeout=2).json()["data"]["activeTargets"]

    def query(self, expr: str) -> List[dict]:
        body = requests.get(self.url + "/api/v1/query", params={"query": expr}, timeout=2).json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def wait(self, predicate, timeout: float, what: str):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = predicate()
                if last:
                    return last
            except (requests.ConnectionError, KeyError) as exc:
                last = exc
            time.sleep(0.2)
        log = (self.dir / "prometheus.log").read_text()[-2000:]
        raise AssertionError(f"prometheus: not {what} within {timeout}s (last: {last!r}); log: {log}")
