"""Which TLS server names are LLM providers, and how their paths map onto the gateway.

The SNI listener intercepts a connection only when its server name is in a
`HostDirectory`; everything else is an "unknown host" (refused or passed
through, by setting). The directory is built from well-known provider hosts
plus the hosts of the `Provider.base_url`s in the database, so a BYO endpoint
is intercepted as soon as an admin adds it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from governance.constants import ProviderKind

# Well-known public API hosts per provider kind, with the path prefix their SDKs
# put before the OpenAI-style (or native) endpoint paths.
WELL_KNOWN_HOSTS: dict[str, tuple[tuple[str, str], ...]] = {
    ProviderKind.OPENAI: (("api.openai.com", "/v1"),),
    ProviderKind.ANTHROPIC: (("api.anthropic.com", ""),),
    ProviderKind.GEMINI: (("generativelanguage.googleapis.com", ""),),
    ProviderKind.OPENAI_COMPATIBLE: (
        ("api.mistral.ai", "/v1"),
        ("api.deepseek.com", ""),
        ("api.groq.com", "/openai/v1"),
        ("api.together.xyz", "/v1"),
        ("api.fireworks.ai", "/inference/v1"),
    ),
}

# Kinds whose clients speak the OpenAI wire format below the base path.
OPENAI_FAMILY = frozenset(
    {ProviderKind.OPENAI, ProviderKind.OPENAI_COMPATIBLE, ProviderKind.LMSTUDIO}
)
GATEWAY_PREFIXES = ("/v1/", "/v1beta/")


@dataclass(frozen=True)
class HostRoute:
    """One intercepted server name: who it belongs to and its SDK base path."""

    host: str
    provider: str  # provider name from the database, or the kind for built-ins
    kind: str
    base_path: str = ""

    def gateway_path(self, path: str) -> str | None:
        """The gateway path for a request path sent to this host, or None.

        Native paths (`/v1/...`, `/v1beta/...`) pass unchanged; OpenAI-family
        hosts with another base path (Groq's `/openai/v1`, DeepSeek's root) are
        mapped onto `/v1/...`, which is where the gateway serves that format.
        """
        if path.startswith(GATEWAY_PREFIXES):
            return path
        if self.kind in OPENAI_FAMILY and path.startswith(self.base_path + "/"):
            return "/v1" + path[len(self.base_path) :]
        return None


def normalise_host(host: str) -> str:
    return host.strip().rstrip(".").lower()


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class HostDirectory:
    """An immutable snapshot; the listener swaps in a new one on refresh."""

    routes: dict[str, HostRoute]

    def lookup(self, server_name: str | None) -> HostRoute | None:
        if not server_name:
            return None
        return self.routes.get(normalise_host(server_name))

    @property
    def hosts(self) -> list[str]:
        return sorted(self.routes)

    @classmethod
    def build(cls, providers: Iterable[tuple[str, str, str]]) -> HostDirectory:
        """From `(name, kind, base_url)` triples; database entries win over built-ins."""
        routes: dict[str, HostRoute] = {}
        for kind, entries in WELL_KNOWN_HOSTS.items():
            for host, base_path in entries:
                routes[host] = HostRoute(
                    host=host, provider=str(kind), kind=str(kind), base_path=base_path
                )
        for name, kind, base_url in providers:
            parts = urlsplit(base_url)
            host = normalise_host(parts.hostname or "")
            if not host:
                continue
            routes[host] = HostRoute(
                host=host, provider=name, kind=kind, base_path=parts.path.rstrip("/")
            )
        return cls(routes=routes)


def provider_rows() -> list[tuple[str, str, str]]:
    """Every provider in the database (sync ORM: call it off the event loop).

    Disabled ones too: their hosts must stay intercepted (the gateway then
    refuses the call), or passthrough mode would let traffic to them bypass it.
    """
    from governance.models import Provider

    return list(Provider.objects.values_list("name", "kind", "base_url"))


def load_directory() -> HostDirectory:
    return HostDirectory.build(provider_rows())


def provider_fqdns(providers: Iterable[tuple[str, str, str]]) -> list[str]:
    """DNS names LLM traffic goes to: configured base_url hosts plus the well-known
    hosts of the kinds in use (an SDK default may bypass a configured base_url)."""
    names: set[str] = set()
    for _name, kind, base_url in providers:
        host = normalise_host(urlsplit(base_url).hostname or "")
        if host and not is_ip_literal(host) and host != "localhost":
            names.add(host)
        names.update(host for host, _ in WELL_KNOWN_HOSTS.get(kind, ()))
    return sorted(names)
