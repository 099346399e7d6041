"""`candela ebpf manifests`: the Kubernetes deployment set and the policies that fit it.

One multi-document YAML: Namespace, ConfigMap, gateway/worker/beat Deployments,
a migration Job, the gateway Service, the CiliumNetworkPolicies and the Tetragon
TracingPolicy for the providers in the database. PostgreSQL and Redis are
external: their URLs come from a Secret the operator creates (see the header).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ebpf.hosts import WELL_KNOWN_HOSTS, provider_fqdns, provider_rows
from ebpf.policies import (
    COMPONENT,
    PART_OF,
    Document,
    PolicyOptions,
    cilium_policies,
    tetragon_policy,
)

HOME = "/var/lib/candela"
PORT = 8000
RUN_AS = 10001
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 (inside the pod, behind its Service)


@dataclass(frozen=True)
class ManifestOptions:
    image: str = "candela:latest"
    gateway_replicas: int = 2
    secret_name: str = "candela-secrets"
    policy: PolicyOptions = field(default_factory=PolicyOptions)

    @property
    def namespace(self) -> str:
        return self.policy.namespace


def _labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "candela", PART_OF: "candela", COMPONENT: component}


def _container(options: ManifestOptions, name: str, args: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "image": options.image,
        "args": args,
        "envFrom": [
            {"configMapRef": {"name": "candela-config"}},
            {"secretRef": {"name": options.secret_name}},
        ],
        "volumeMounts": [
            {"name": "candela-home", "mountPath": HOME},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 (an emptyDir in the pod)
        ],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def _pod(options: ManifestOptions, component: str, container: dict, restart: str = "Always"):
    return {
        "metadata": {"labels": _labels(component)},
        "spec": {
            "restartPolicy": restart,
            "automountServiceAccountToken": False,
            "containers": [container],
            "volumes": [
                {"name": "candela-home", "emptyDir": {}},
                {"name": "tmp", "emptyDir": {}},
            ],
        },
    }


def _deployment(options: ManifestOptions, component: str, replicas: int, container) -> Document:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"candela-{component}",
            "namespace": options.namespace,
            "labels": _labels(component),
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": _labels(component)},
            "template": _pod(options, component, container),
        },
    }


def deployment_set(options: ManifestOptions) -> list[Document]:
    ns = options.namespace
    serve = ["candela-server", "--host", ALL_INTERFACES, "--port", str(PORT)]
    gateway = _container(options, "gateway", serve)
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
    gateway.update(
        ports=[{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        readinessProbe=probe,
        livenessProbe={**probe, "failureThreshold": 6},
    )
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": {PART_OF: "candela"}},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "candela-config", "namespace": ns, "labels": {PART_OF: "candela"}},
            "data": {
                "CANDELA_PRODUCTION": "true",
                "CANDELA_HOME": HOME,
                "CANDELA_LOG_LEVEL": "INFO",
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "candela-migrate", "namespace": ns, "labels": _labels("migrate")},
            "spec": {
                "backoffLimit": 3,
                "template": _pod(
                    options,
                    "migrate",
                    _container(options, "migrate", ["candela-server", "migrate"]),
                    restart="OnFailure",
                ),
            },
        },
        _deployment(options, "gateway", options.gateway_replicas, gateway),
        _deployment(
            options, "worker", 1, _container(options, "worker", ["candela-server", "worker"])
        ),
        _deployment(options, "beat", 1, _container(options, "beat", ["candela-server", "beat"])),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "candela-gateway", "namespace": ns, "labels": _labels("gateway")},
            "spec": {
                "selector": _labels("gateway"),
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
        },
    ]


def documents(fqdns: list[str], options: ManifestOptions) -> list[Document]:
    return [
        *deployment_set(options),
        *cilium_policies(fqdns, options.policy),
        tetragon_policy(fqdns, options.policy),
    ]


def fqdns_from_database() -> list[str]:
    """Provider names from the database; all well-known ones when none is configured."""
    names = provider_fqdns(provider_rows())
    if names:
        return names
    return sorted(host for entries in WELL_KNOWN_HOSTS.values() for host, _ in entries)


def render(fqdns: list[str], options: ManifestOptions) -> str:
    header = f"""# Candela on Kubernetes, generated by `candela ebpf manifests`.
# LLM provider hosts: {", ".join(fqdns)}
# Create the Secret first (PostgreSQL and Redis are external services):
#   kubectl -n {options.namespace} create secret generic {options.secret_name} \\
#     --from-literal=DATABASE_URL=postgres://... --from-literal=REDIS_URL=redis://... \\
#     --from-literal=CANDELA_SECRET_KEY=$(openssl rand -base64 48)
# Re-generate and re-apply after adding a provider: the policies list its host.
"""
    body = yaml.safe_dump_all(documents(fqdns, options), sort_keys=False, explicit_start=True)
    return header + body
