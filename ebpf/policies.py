"""Kubernetes enforcement: a CiliumNetworkPolicy per role and a Tetragon TracingPolicy.

- Cilium (L3/L4 + DNS-aware): Candela's gateway pods may reach the provider
  FQDNs on 443 (`toFQDNs`, learnt through Cilium's DNS proxy, hence the DNS
  rule to kube-dns), PostgreSQL and Redis, nothing else. Worker/beat/migrate
  pods reach only PostgreSQL, Redis and any extra FQDNs (alert webhooks).
  Workload namespaces get egress to the cluster only, so Candela's gateway is
  their one way to a provider.
- Tetragon (kernel, per process): Cilium cannot deny a name, and a workload
  policy can be loosened by anyone who adds an allow rule; Tetragon acts on the
  connect itself. It cannot match FQDNs, so it acts on TCP 443 to any address
  outside the cluster's private ranges, from any binary but Candela's, in any
  pod not part of Candela.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

Document = dict[str, Any]

PART_OF = "app.kubernetes.io/part-of"
COMPONENT = "app.kubernetes.io/component"
EXEMPT_LABEL = "candela.dev/llm-egress"
KUBE_DNS = {"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns"}
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8")
TETRAGON_ACTIONS = ("sigkill", "override", "post")


@dataclass(frozen=True)
class PolicyOptions:
    namespace: str = "candela"
    postgres: str = "postgres:5432"  # Service name[.namespace], IP/CIDR or FQDN, with :port
    redis: str = "redis:6379"
    extra_fqdns: tuple[str, ...] = ()
    workload_namespaces: tuple[str, ...] = ()
    candela_binaries: tuple[str, ...] = ("/app/.venv/bin/python",)
    tetragon_action: str = "sigkill"
    cluster_ranges: tuple[str, ...] = PRIVATE_RANGES
    labels: dict[str, str] = field(default_factory=lambda: {PART_OF: "candela"})


def _ports(port: str, protocol: str = "TCP") -> list[dict[str, Any]]:
    return [{"ports": [{"port": port, "protocol": protocol}]}]


def dns_rule() -> dict[str, Any]:
    """DNS to kube-dns through Cilium's DNS proxy, which is how toFQDNs learns IPs."""
    return {
        "toEndpoints": [{"matchLabels": dict(KUBE_DNS)}],
        "toPorts": [
            {
                "ports": [{"port": "53", "protocol": "ANY"}],
                "rules": {"dns": [{"matchPattern": "*"}]},
            }
        ],
    }


def peer_rule(target: str, *, namespace: str) -> dict[str, Any]:
    """Egress to PostgreSQL/Redis given as `service[.ns]:port`, `ip-or-cidr:port` or `fqdn:port`."""
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{target!r}: expected HOST:PORT")
    try:
        network = ipaddress.ip_network(host.strip("[]"), strict=False)
    except ValueError:
        network = None
    if network is not None:
        return {"toCIDR": [network.with_prefixlen], "toPorts": _ports(port)}
    labels = host.split(".")
    if len(labels) <= 2 or host.endswith((".svc", ".svc.cluster.local")):
        service_namespace = labels[1] if len(labels) > 1 else namespace
        return {
            "toServices": [
                {"k8sService": {"serviceName": labels[0], "namespace": service_namespace}}
            ],
            "toPorts": _ports(port),
        }
    return {"toFQDNs": [{"matchName": host}], "toPorts": _ports(port)}


def _cnp(
    name: str, namespace: str, selector: dict, egress: list, description: str, labels
) -> Document:
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "description": description,
            "endpointSelector": selector,
            "enableDefaultDeny": {"egress": True, "ingress": False},
            "egress": egress,
        },
    }


def cilium_policies(fqdns: list[str], options: PolicyOptions) -> list[Document]:
    ns = options.namespace
    peers = [peer_rule(options.postgres, namespace=ns), peer_rule(options.redis, namespace=ns)]
    extra = [{"toFQDNs": [{"matchName": n} for n in options.extra_fqdns], "toPorts": _ports("443")}]
    extra = extra if options.extra_fqdns else []
    gateway = _cnp(
        "candela-gateway-egress",
        ns,
        {"matchLabels": {PART_OF: "candela", COMPONENT: "gateway"}},
        [
            dns_rule(),
            {"toFQDNs": [{"matchName": n} for n in fqdns], "toPorts": _ports("443")},
            *peers,
            *extra,
        ],
        "Candela gateway: LLM providers, PostgreSQL and Redis only.",
        options.labels,
    )
    backend = _cnp(
        "candela-backend-egress",
        ns,
        {
            "matchLabels": {PART_OF: "candela"},
            "matchExpressions": [
                {"key": COMPONENT, "operator": "In", "values": ["worker", "beat", "migrate"]}
            ],
        },
        [dns_rule(), *peers, *extra],
        "Candela worker, beat and migrations: PostgreSQL, Redis and configured webhooks only.",
        options.labels,
    )
    workloads = [
        _cnp(
            "candela-workload-egress",
            workload_ns,
            {},
            [dns_rule(), {"toEntities": ["cluster"]}],
            "Workloads reach the cluster only (Candela's gateway included): "
            "LLM providers only through Candela.",
            options.labels,
        )
        for workload_ns in options.workload_namespaces
    ]
    return [gateway, backend, *workloads]


def _selector(options: PolicyOptions, args: list[dict[str, Any]]) -> dict[str, Any]:
    action: dict[str, Any] = {
        "sigkill": {"action": "Sigkill"},
        "override": {"action": "Override", "argError": -1},  # -EPERM from connect()
        "post": {"action": "Post"},
    }[options.tetragon_action]
    return {
        "matchArgs": args,
        "matchBinaries": [{"operator": "NotIn", "values": list(options.candela_binaries)}],
        "matchActions": [action],
    }


def tetragon_policy(fqdns: list[str], options: PolicyOptions) -> Document:
    if options.tetragon_action not in TETRAGON_ACTIONS:
        raise ValueError(f"tetragon action must be one of {', '.join(TETRAGON_ACTIONS)}")
    ranges = list(options.cluster_ranges)
    if options.tetragon_action == "override":
        # tcp_connect cannot have its return value overridden; the LSM connect hook can.
        kprobe: dict[str, Any] = {
            "call": "security_socket_connect",
            "syscall": False,
            "args": [{"index": 0, "type": "socket"}, {"index": 1, "type": "sockaddr"}],
            "selectors": [
                _selector(
                    options,
                    [
                        {"index": 0, "operator": "Protocol", "values": ["IPPROTO_TCP"]},
                        {"index": 1, "operator": "Family", "values": ["AF_INET", "AF_INET6"]},
                        # On a sockaddr argument the destination is read by SAddr/SPort.
                        {"index": 1, "operator": "SPort", "values": ["443"]},
                        {"index": 1, "operator": "NotSAddr", "values": ranges},
                    ],
                )
            ],
        }
    else:
        kprobe = {
            "call": "tcp_connect",
            "syscall": False,
            "args": [{"index": 0, "type": "sock"}],
            "selectors": [
                _selector(
                    options,
                    [
                        {"index": 0, "operator": "DPort", "values": ["443"]},
                        {"index": 0, "operator": "NotDAddr", "values": ranges},
                    ],
                )
            ],
        }
    kprobe["message"] = "HTTPS egress that bypasses Candela (possible direct LLM provider call)"
    kprobe["tags"] = ["candela", "llm-egress"]
    return {
        "apiVersion": "cilium.io/v1alpha1",
        "kind": "TracingPolicy",
        "metadata": {
            "name": "candela-llm-egress",
            "labels": dict(options.labels),
            "annotations": {"candela.dev/provider-hosts": ",".join(fqdns)},
        },
        "spec": {
            "podSelector": {
                "matchExpressions": [
                    {"key": PART_OF, "operator": "NotIn", "values": ["candela"]},
                    {"key": EXEMPT_LABEL, "operator": "NotIn", "values": ["exempt"]},
                ]
            },
            "kprobes": [kprobe],
        },
    }
