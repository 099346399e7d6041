"""Every request leaves exactly one audit event and one ledger row, never lost."""

from __future__ import annotations

import signal
from collections import Counter

import httpx
import orjson
import pytest

from audit.models import AuditEvent
from audit.services import verify_chain
from tests.gateway_harness import (
    auth,
    chat_body,
    database_proxy,
    database_url_for_gateways,
    events_for,
    running_gateways,
    wait_for_records,
    wait_until,
)

pytest_plugins = ["tests.gateway_harness"]
pytestmark = pytest.mark.usefixtures("gw_db", "gateway_defaults")
SECRET_PROMPT = "my password is hunter2-zebra"


def _chat(url: str, raw: str, **extra) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions", json=chat_body(SECRET_PROMPT, **extra), headers=auth(raw)
    )


@pytest.fixture
def db_proxy():
    proxy = database_proxy()
    yield proxy
    proxy.close()


def test_one_event_and_one_row_per_request_served_or_refused(tmp_path, setup, dev_a, operator):
    key, raw = setup.key(dev_a, allowed_models=["gpt-4o-mini"], rate_limit_rpm=3)
    with running_gateways(tmp_path) as gateways:
        gateways.sync()
        url = gateways.url
        responses = [
            _chat(url, raw),
            _chat(url, raw, stream=True),
            _chat(url, "ck-" + "x" * 43),
            _chat(url, raw, model="gpt-4o"),
            httpx.post(url + "/v1/chat/completions", content=b"{", headers=auth(raw)),
            _chat(url, raw),
            _chat(url, raw),
            httpx.get(url + "/v1/models", headers=auth(raw)),
            httpx.post(url + "/v1/no-such-endpoint", headers=auth(raw)),
        ]
    statuses = [r.status_code for r in responses]
    assert statuses == [200, 200, 401, 403, 400, 200, 429, 200, 404]
    ids = [r.headers["x-candela-request-id"] for r in responses]
    assert len(set(ids)) == len(ids)
    rows = wait_for_records(ids)
    assert Counter(row.request_id for row in rows) == Counter(ids)
    events = events_for(ids)
    assert Counter(event.request_id for event in events) == Counter(ids)
    by_id = {event.request_id: event for event in events}
    served = by_id[ids[0]]
    assert (served.decision, served.reason, served.action) == ("allowed", "", "chat.completions")
    assert (served.tenant_id, served.tenant_slug) == (dev_a.tenant_id, "acme")
    assert (served.actor_id, served.actor_name, served.key_prefix) == (
        dev_a.id,
        dev_a.username,
        key.prefix,
    )
    assert (served.model, served.provider) == ("gpt-4o-mini", "fake-openai")
    assert served.prompt_tokens > 0 and served.completion_tokens > 0 and served.cost_usd > 0
    assert served.latency_ms > 0
    assert served.data == {"endpoint": "chat.completions", "stream": False, "status": 200}
    assert by_id[ids[1]].data["stream"] is True
    assert [by_id[i].reason for i in ids[2:5]] == [
        "invalid_api_key",
        "model_not_allowed",
        "invalid_request",
    ]
    assert by_id[ids[6]].reason == "rate_limit_exceeded"
    # Neither prompt text nor the key ever reaches the trail.
    trail = orjson.dumps(list(AuditEvent.objects.values()), default=str).decode()
    assert SECRET_PROMPT not in trail and raw not in trail
    assert verify_chain().ok


def test_database_outage_spools_then_replays_everything(tmp_path, setup, dev_a, db_proxy):
    _, raw = setup.key(dev_a)
    database = database_url_for_gateways(port=db_proxy.port)
    spool_dir = tmp_path / "spool"
    with running_gateways(tmp_path, DATABASE_URL=database) as gateways:
        gateways.sync()
        db_proxy.down()
        responses = [_chat(gateways.url, raw) for _ in range(5)]
        assert [r.status_code for r in responses] == [200] * 5
        ids = [r.headers["x-candela-request-id"] for r in responses]
        assert wait_until(lambda: _spooled(spool_dir) >= set(ids))
        assert wait_for_records(ids, timeout=0.5) == []
        db_proxy.up()
        rows = wait_for_records(ids)
        assert sorted(row.request_id for row in rows) == sorted(ids)
        assert wait_until(lambda: not _spooled(spool_dir))
    assert Counter(event.request_id for event in events_for(ids)) == Counter(ids)
    report = verify_chain()
    assert report.ok, report


def test_spool_of_a_killed_process_is_replayed_by_the_next(tmp_path, setup, dev_a, db_proxy):
    _, raw = setup.key(dev_a)
    database = database_url_for_gateways(port=db_proxy.port)
    spool_dir = tmp_path / "spool"
    with running_gateways(
        tmp_path / "a", DATABASE_URL=database, CANDELA_SPOOL_DIR=str(spool_dir)
    ) as first:
        first.sync()
        db_proxy.down()
        ids = [_chat(first.url, raw).headers["x-candela-request-id"] for _ in range(3)]
        assert wait_until(lambda: _spooled(spool_dir) >= set(ids))
        first[0].process.send_signal(signal.SIGKILL)
        first[0].process.wait(10)
    db_proxy.up()
    with running_gateways(tmp_path / "b", CANDELA_SPOOL_DIR=str(spool_dir)):
        rows = wait_for_records(ids)
    assert sorted(row.request_id for row in rows) == sorted(ids)
    assert not _spooled(spool_dir)
    assert verify_chain().ok


def test_shutdown_flushes_the_queue(tmp_path, setup, dev_a):
    _, raw = setup.key(dev_a)
    with running_gateways(tmp_path, CANDELA_AUDIT_FLUSH_SECONDS="3600") as gateways:
        gateways.sync()
        ids = [_chat(gateways.url, raw).headers["x-candela-request-id"] for _ in range(3)]
        assert wait_for_records(ids, timeout=0.3) == []
    assert sorted(row.request_id for row in wait_for_records(ids, timeout=1)) == sorted(ids)


def _spooled(directory) -> set[str]:
    """Request ids waiting in the spool files of `directory`."""
    return {
        orjson.loads(line)["usage"]["request_id"]
        for path in directory.glob("spool-*.jsonl")
        if ".rejected" not in path.name
        for line in path.read_bytes().splitlines()
    }
