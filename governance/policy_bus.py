"""The policy version: bumped on every governance change, watched by gateways.

With Redis, a version key plus a pub/sub message reach every gateway process;
embedded, an in-process counter does the same job for the single process.
"""

from __future__ import annotations

import itertools
import logging

import redis
from django.conf import settings

log = logging.getLogger(__name__)

POLICY_VERSION_KEY = "candela:policy:version"
POLICY_CHANNEL = "candela:policy:changed"
_local_versions = itertools.count(1)
_local_version = 0


def bump_policy_version() -> int:
    global _local_version
    _local_version = next(_local_versions)
    if not settings.REDIS_URL:
        return _local_version
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    try:
        version = int(client.incr(POLICY_VERSION_KEY))
        client.publish(POLICY_CHANNEL, str(version))
        return version
    except redis.RedisError:
        # Gateways also poll the version key; log so operators know changes may lag.
        log.warning("policy change could not be announced through Redis")
        return _local_version
    finally:
        client.close()


def local_policy_version() -> int:
    return _local_version
