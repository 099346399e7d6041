"""The fake upstream: nginx answering fixed OpenAI bodies (bench/upstream/nginx.conf)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from overhead.processes import NotAvailable, Service, free_port

TEMPLATE = Path(__file__).resolve().parent.parent / "upstream" / "nginx.conf"
JSON_PREFIX = "/v1"  # base URL path of the non-streaming answer
SSE_PREFIX = "/sse/v1"  # base URL path of the streaming answer
CHAT_PATH = "/chat/completions"


@dataclass
class Upstream:
    service: Service
    port: int

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, *, stream: bool) -> str:
        return self.root + (SSE_PREFIX if stream else JSON_PREFIX)

    def chat_url(self, *, stream: bool) -> str:
        return self.base_url(stream=stream) + CHAT_PATH


def start_nginx(work_dir: Path, *, port: int | None = None) -> Upstream:
    binary = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if binary is None:
        raise NotAvailable("nginx is not installed (Debian: apt-get install -y nginx wrk)")
    port = port or free_port()
    prefix = work_dir / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(
        TEMPLATE.read_text().replace("@PORT@", str(port)).replace("@PREFIX@", str(prefix))
    )
    service = Service(
        "nginx",
        [binary, "-e", "stderr", "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
        log_dir=work_dir,
        env=dict(os.environ),
        cwd=prefix,
    )
    service.wait_for_port(port, timeout=10)
    return Upstream(service=service, port=port)
