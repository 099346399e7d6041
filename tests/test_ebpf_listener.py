"""`candela ebpf listen`: TLS by server name in front of the real gateway.

Here the listener is reached directly on 127.0.0.1 (the redirect itself is
exercised in test_ebpf_netns.py); clients choose the server name they send.
"""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ebpf.ca import CertificateAuthority
from governance.services.providers import create_provider, update_provider
from tests.gateway_harness import (  # noqa: F401 - fixtures
    ROOT,
    _restore_triggers,
    free_port,
    gateway_env,
    gw_db,
)

pytestmark = pytest.mark.usefixtures("gw_db")


@dataclass
class Listener:
    port: int
    ca_path: Path
    log_path: Path

    def request(self, method: str, host: str, path: str, **kwargs) -> httpx.Response:
        verify = ssl.create_default_context(cafile=str(self.ca_path))
        with httpx.Client(verify=verify, timeout=10) as client:
            return client.request(
                method,
                f"https://127.0.0.1:{self.port}{path}",
                headers={"host": host, **kwargs.pop("headers", {})},
                extensions={"sni_hostname": host},
                **kwargs,
            )

    def handshake_error(self, host: str, context: ssl.SSLContext | None = None) -> str | None:
        context = context or ssl.create_default_context(cafile=str(self.ca_path))
        try:
            with httpx.Client(verify=context, timeout=5) as client:
                client.get(
                    f"https://127.0.0.1:{self.port}/v1/models", extensions={"sni_hostname": host}
                )
        except httpx.ConnectError as exc:
            return str(exc)
        return None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def listener(tmp_path_factory, django_db_setup) -> Iterator[Listener]:
    tmp = tmp_path_factory.mktemp("sni")
    ca = CertificateAuthority.create(tmp / "ca")
    port = free_port()
    env = gateway_env(tmp, CANDELA_CA_DIR=str(tmp / "ca"), CANDELA_SNI_UNKNOWN="refuse")
    log_path = tmp / "listener.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "ebpf", "listen", "--port", str(port),
                "--listen", "127.0.0.1", "--refresh-seconds", "0.3",
            ],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        running = Listener(port=port, ca_path=ca.cert_path, log_path=log_path)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    running.request("GET", "api.openai.com", "/v1/models")
                    break
                except httpx.HTTPError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(f"listener did not start:\n{running.log()}") from None
                    time.sleep(0.1)
            yield running
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(15)


def _assert_from_gateway(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == response.headers["x-candela-request-id"]


def test_well_known_provider_paths_reach_the_gateway(listener):
    # No key: the gateway itself answers 401, so the request went through its pipeline.
    openai = listener.request("POST", "api.openai.com", "/v1/chat/completions", json={})
    _assert_from_gateway(openai, 401, "invalid_api_key")
    # Groq's SDK puts /openai/v1 before the OpenAI paths; the gateway serves them at /v1.
    groq = listener.request("POST", "api.groq.com", "/openai/v1/chat/completions", json={})
    _assert_from_gateway(groq, 401, "invalid_api_key")


def test_only_llm_calls_are_served_on_intercepted_hosts(listener):
    for path in ("/admin/", "/api/v1/tenants", "/healthz"):
        response = listener.request("GET", "api.openai.com", path)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "not_found"


def test_byo_provider_host_is_intercepted_once_added_and_while_disabled(listener, operator):
    assert "UNRECOGNIZED_NAME" in (listener.handshake_error("llm.corp.example") or "").upper()
    provider = create_provider(
        actor=operator,
        name="corp",
        kind="openai_compatible",
        base_url="https://llm.corp.example/openai/v1",
    )
    deadline = time.monotonic() + 10
    while listener.handshake_error("llm.corp.example") is not None:
        assert time.monotonic() < deadline, f"BYO host not picked up:\n{listener.log()}"
        time.sleep(0.1)
    byo = listener.request("POST", "llm.corp.example", "/openai/v1/chat/completions", json={})
    _assert_from_gateway(byo, 401, "invalid_api_key")
    # Disabling the provider must not turn its host into an unknown (passable) one.
    update_provider(actor=operator, provider=provider, enabled=False)
    time.sleep(0.8)  # two refreshes
    assert listener.handshake_error("llm.corp.example") is None


def test_client_that_does_not_trust_candela_is_refused_and_the_listener_carries_on(listener):
    public_roots_only = ssl.create_default_context()
    error = listener.handshake_error("api.openai.com", public_roots_only)
    assert error is not None and "CERTIFICATE_VERIFY_FAILED" in error
    answered = listener.request("POST", "api.openai.com", "/v1/chat/completions", json={})
    _assert_from_gateway(answered, 401, "invalid_api_key")
