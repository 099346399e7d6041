"""Upstream HTTP: one pooled aiohttp session per process, timeouts from settings.

Connection errors and 5xx answers are retried (`CANDELA_UPSTREAM_RETRIES`)
before anything reaches the client; timeouts are not (they already waited).
"""

from __future__ import annotations

import logging

import aiohttp

from gateway.config import GatewayConfig
from gateway.errors import upstream_error, upstream_timeout
from gateway.providers.base import UpstreamCall

log = logging.getLogger(__name__)

POOL_LIMIT = 1024
KEEPALIVE_SECONDS = 30.0


def build_session(config: GatewayConfig) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=POOL_LIMIT, limit_per_host=0, keepalive_timeout=KEEPALIVE_SECONDS, ttl_dns_cache=300
    )
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=config.connect_timeout, sock_read=config.read_timeout
    )
    return aiohttp.ClientSession(connector=connector, timeout=timeout, raise_for_status=False)


async def open_response(
    session: aiohttp.ClientSession, call: UpstreamCall, retries: int
) -> aiohttp.ClientResponse:
    """The upstream response once its headers arrived; the caller releases it."""
    attempt = 0
    while True:
        try:
            response = await session.post(call.url, data=call.body, headers=call.headers)
        except TimeoutError:
            raise upstream_timeout("The provider did not answer in time.") from None
        except aiohttp.ClientError as exc:
            log.warning("upstream %s failed (attempt %d): %r", call.url, attempt + 1, exc)
            if attempt < retries:
                attempt += 1
                continue
            raise upstream_error("The provider could not be reached.") from None
        if response.status >= 500 and attempt < retries:
            response.release()
            attempt += 1
            continue
        return response


async def fetch(
    session: aiohttp.ClientSession, call: UpstreamCall, retries: int
) -> tuple[int, bytes]:
    """(status, body) of a whole (non-streamed) upstream answer."""
    response = await open_response(session, call, retries)
    try:
        return response.status, await response.read()
    except TimeoutError:
        raise upstream_timeout("The provider did not finish its answer in time.") from None
    except aiohttp.ClientError:
        raise upstream_error("The provider's answer was cut short.") from None
    finally:
        response.release()
