"""Debian's Prometheus as a real scraper: a temp config, one target, the HTTP API to query.

`PrometheusServer(tmp_path, "127.0.0.1:9110").start()`; with `netns="<lab>-sw"` Prometheus runs
inside that network namespace (`ip netns exec`), so it scrapes an agent bound to the
namespace's loopback, and the test's queries go out from a thread that entered the namespace.
`rules=PATH` loads a rule file (evaluated every second, like the scrapes).
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Optional

import requests

from tests.conftest import enter_netns, require



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrometheusServer:
    def __init__(self, workdir: Path, target: str, netns: Optional[str] = None, rules: Optional[Path] = None):
        require(shutil.which("prometheus") is not None, "needs Debian's prometheus (apt-get install prometheus)")
        self.dir = workdir
        self.target = target
        self.netns = netns
        self.rules = rules
        # A fresh namespace has nothing listening; in the host's, ask the kernel for a free port.
        self.url = f"http://127.0.0.1:{free_port() if netns is None else 9090}"
        self.proc = None
        # Every HTTP call goes through one thread, which lives in `netns` when one is given.
        self._http = ThreadPoolExecutor(1, initializer=enter_netns, initargs=(netns,)) if netns else None

    def start(self) -> "PrometheusServer":
        config = self.dir / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
            + (f"rule_files: ['{self.rules}']\n" if self.rules else "") +
            f"scrape_configs:\n  - job_name: telegen\n    static_configs: [{{targets: ['{self.target}']}}]\n")
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.proc = subprocess.Popen(
            prefix + ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={self.dir / 'tsdb'}",
                      f"--web.listen-address={self.url[len('http://'):]}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=open(self.dir / "prometheus.log", "wb"))
        self.wait(lambda: self._get("/-/ready").status_code == 200, 30, "ready")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self._http is not None:
            self._http.shutdown()

    def _get(self, path: str, **params) -> requests.Response:
        call = lambda: requests.get(self.url + path, params=params, timeout=2)  # noqa: E731
        return self._http.submit(call).result() if self._http else call()

    def targets(self) -> List[dict]:
        return self._get("/api/v1/targets").json()["data"]["activeTargets"]

    def query(self, expr: str, at: Optional[float] = None) -> List[dict]:
        """The instant vector of `expr`, now or at Unix time `at`."""
        body = self._get("/api/v1/query", query=expr, **({"time": repr(at)} if at is not None else {})).json()
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
