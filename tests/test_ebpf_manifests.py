"""`candela ebpf manifests`: valid Cilium/Tetragon resources for the providers in the database."""

from __future__ import annotations

import copy
import io
import ipaddress
from contextlib import redirect_stdout
from pathlib import Path

import jsonschema
import pytest
import yaml

from ebpf.cli import main as ebpf_main
from ebpf.manifests import ManifestOptions, documents, fqdns_from_database
from ebpf.policies import PolicyOptions
from governance.services.providers import create_provider, update_provider

CRDS = Path(__file__).parent / "data" / "crds"


def _strict(schema):
    """kubectl's strict field validation: unknown fields of a described object are errors."""
    if isinstance(schema, dict):
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        for value in schema.values():
            _strict(value)
    elif isinstance(schema, list):
        for item in schema:
            _strict(item)
    return schema


def _validator(crd_file: str) -> jsonschema.Draft7Validator:
    crd = yaml.safe_load((CRDS / crd_file).read_text())
    (version,) = crd["spec"]["versions"]
    schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
    checker = jsonschema.FormatChecker()

    @checker.checks("cidr", raises=ValueError)
    def _cidr(value) -> bool:
        ipaddress.ip_network(value, strict=False)
        return True

    return jsonschema.Draft7Validator(schema, format_checker=checker)


CNP = _validator("ciliumnetworkpolicies.cilium.io.yaml")
TRACING = _validator("tracingpolicies.cilium.io.yaml")


def _render(*args: str) -> list[dict]:
    out = io.StringIO()
    with redirect_stdout(out):
        assert ebpf_main(["ebpf", "manifests", *args]) == 0
    return [doc for doc in yaml.safe_load_all(out.getvalue()) if doc]


def _of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [doc for doc in docs if doc["kind"] == kind]


@pytest.fixture
def providers(operator):
    create_provider(
        actor=operator, name="openai", kind="openai", base_url="https://api.openai.com/v1"
    )
    create_provider(
        actor=operator,
        name="corp-llm",
        kind="openai_compatible",
        base_url="https://llm.corp.example/v1",
    )
    create_provider(actor=operator, name="local", kind="ollama", base_url="http://localhost:11434")


def test_printed_policies_validate_against_the_cilium_and_tetragon_crds(providers):
    docs = _render("--workload-namespace", "apps", "--allow-fqdn", "hooks.slack.com")
    policies = _of_kind(docs, "CiliumNetworkPolicy")
    tracing = _of_kind(docs, "TracingPolicy")
    assert len(policies) == 3 and len(tracing) == 1
    for doc in policies:
        CNP.validate(doc)
    TRACING.validate(tracing[0])


@pytest.mark.parametrize("action", ["sigkill", "override", "post"])
def test_every_tetragon_action_validates(providers, action):
    (policy,) = _of_kind(_render("--tetragon-action", action), "TracingPolicy")
    TRACING.validate(policy)
    (kprobe,) = policy["spec"]["kprobes"]
    (selector,) = kprobe["selectors"]
    assert selector["matchActions"][0]["action"] == {
        "sigkill": "Sigkill", "override": "Override", "post": "Post"
    }[action]  # fmt: skip
    # connect() can only be made to fail (Override) at the LSM hook, not in tcp_connect.
    assert kprobe["call"] == ("security_socket_connect" if action == "override" else "tcp_connect")


def test_the_schemas_catch_what_kubectl_would_reject(providers):
    docs = _render()
    gateway = next(d for d in docs if d["metadata"]["name"] == "candela-gateway-egress")
    typo = copy.deepcopy(gateway)
    typo["spec"]["egress"][1]["toFQDN"] = typo["spec"]["egress"][1].pop("toFQDNs")
    bad_port = copy.deepcopy(gateway)
    bad_port["spec"]["egress"][1]["toPorts"][0]["ports"][0]["protocol"] = "HTTPS"
    bad_name = copy.deepcopy(gateway)
    bad_name["spec"]["egress"][1]["toFQDNs"][0] = {
        "matchName": "api.openai.com",
        "matchPattern": "*",
    }
    for broken in (typo, bad_port, bad_name):
        with pytest.raises(jsonschema.ValidationError):
            CNP.validate(broken)
    (policy,) = _of_kind(docs, "TracingPolicy")
    policy["spec"]["kprobes"][0]["selectors"][0]["matchBinaries"][0]["operator"] = "Except"
    with pytest.raises(jsonschema.ValidationError):
        TRACING.validate(policy)


def test_only_candela_gateway_pods_may_reach_the_provider_fqdns(providers):
    docs = _render("--workload-namespace", "apps", "--workload-namespace", "batch")
    by_name = {(d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs}
    gateway = by_name[("candela", "candela-gateway-egress")]["spec"]
    assert gateway["endpointSelector"]["matchLabels"]["app.kubernetes.io/component"] == "gateway"
    fqdn_rules = [rule for rule in gateway["egress"] if "toFQDNs" in rule]
    names = {entry["matchName"] for rule in fqdn_rules for entry in rule["toFQDNs"]}
    # The BYO host, the well-known hosts of the kinds in use; not localhost (Ollama).
    assert "llm.corp.example" in names and "api.openai.com" in names and "api.groq.com" in names
    assert "localhost" not in names and "api.anthropic.com" not in names
    assert all(
        rule["toPorts"][0]["ports"] == [{"port": "443", "protocol": "TCP"}] for rule in fqdn_rules
    )
    # toFQDNs only works with DNS visibility: a DNS rule to kube-dns comes with it.
    dns = next(rule for rule in gateway["egress"] if "toEndpoints" in rule)
    assert dns["toEndpoints"][0]["matchLabels"]["k8s:k8s-app"] == "kube-dns"
    assert dns["toPorts"][0]["rules"]["dns"] == [{"matchPattern": "*"}]
    # Worker/beat get no provider egress; workloads get the cluster only.
    backend = by_name[("candela", "candela-backend-egress")]["spec"]
    assert not any("toFQDNs" in rule for rule in backend["egress"])
    for namespace in ("apps", "batch"):
        workload = by_name[(namespace, "candela-workload-egress")]["spec"]
        assert workload["endpointSelector"] == {}
        assert {"toEntities": ["cluster"]} in workload["egress"]
        assert not any("toFQDNs" in rule or "toCIDR" in rule for rule in workload["egress"])


def test_a_provider_added_later_appears_after_regenerating(operator, providers):
    before = fqdns_from_database()
    provider = create_provider(
        actor=operator, name="claude", kind="anthropic", base_url="https://anthropic.proxy.example"
    )
    after = fqdns_from_database()
    assert set(after) - set(before) == {"anthropic.proxy.example", "api.anthropic.com"}
    update_provider(actor=operator, provider=provider, enabled=False)
    # A disabled provider keeps its FQDNs: it can be re-enabled without new policies.
    assert set(fqdns_from_database()) >= set(after)


def test_tetragon_acts_on_external_443_from_any_binary_but_candela(providers):
    options = ManifestOptions(
        policy=PolicyOptions(
            candela_binaries=("/opt/candela/bin/python",), cluster_ranges=("10.0.0.0/8",)
        )
    )
    (policy,) = _of_kind(documents(["api.openai.com"], options), "TracingPolicy")
    spec = policy["spec"]
    (selector,) = spec["kprobes"][0]["selectors"]
    assert {"index": 0, "operator": "DPort", "values": ["443"]} in selector["matchArgs"]
    assert {"index": 0, "operator": "NotDAddr", "values": ["10.0.0.0/8"]} in selector["matchArgs"]
    assert selector["matchBinaries"] == [
        {"operator": "NotIn", "values": ["/opt/candela/bin/python"]}
    ]
    excluded = {e["key"]: e for e in spec["podSelector"]["matchExpressions"]}
    assert excluded["app.kubernetes.io/part-of"]["values"] == ["candela"]
    assert policy["metadata"]["annotations"]["candela.dev/provider-hosts"] == "api.openai.com"


def test_deployment_set_fits_the_policies(providers):
    docs = _render("--image", "registry.example/candela:1.2", "--namespace", "llm")
    deployments = {d["metadata"]["name"]: d for d in _of_kind(docs, "Deployment")}
    assert set(deployments) == {"candela-gateway", "candela-worker", "candela-beat"}
    policies = {d["metadata"]["name"]: d for d in _of_kind(docs, "CiliumNetworkPolicy")}
    gateway_selector = policies["candela-gateway-egress"]["spec"]["endpointSelector"]["matchLabels"]
    for name, deployment in deployments.items():
        assert deployment["metadata"]["namespace"] == "llm"
        pod = deployment["spec"]["template"]
        labels = pod["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"] == labels
        (container,) = pod["spec"]["containers"]
        assert container["image"] == "registry.example/candela:1.2"
        assert {"secretRef": {"name": "candela-secrets"}} in container["envFrom"]
        selected = all(labels.get(k) == v for k, v in gateway_selector.items())
        assert selected == (name == "candela-gateway")
    service = _of_kind(docs, "Service")[0]
    assert (
        service["spec"]["selector"]
        == deployments["candela-gateway"]["spec"]["selector"]["matchLabels"]
    )
    assert _of_kind(docs, "Namespace")[0]["metadata"]["name"] == "llm"


def test_peer_targets_become_the_right_cilium_rule(providers):
    docs = _render("--postgres", "db.internal.example:5432", "--redis", "10.1.2.3:6380")
    gateway = next(d for d in docs if d["metadata"]["name"] == "candela-gateway-egress")
    egress = gateway["spec"]["egress"]
    assert {
        "toFQDNs": [{"matchName": "db.internal.example"}],
        "toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}]}],
    } in egress
    assert {
        "toCIDR": ["10.1.2.3/32"],
        "toPorts": [{"ports": [{"port": "6380", "protocol": "TCP"}]}],
    } in egress
    CNP.validate(gateway)
    default = next(d for d in _render() if d["metadata"]["name"] == "candela-gateway-egress")
    assert {
        "toServices": [{"k8sService": {"serviceName": "postgres", "namespace": "candela"}}],
        "toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}]}],
    } in default["spec"]["egress"]


def test_without_providers_every_well_known_host_is_listed(db):
    (policy,) = _of_kind(_render(), "TracingPolicy")
    hosts = policy["metadata"]["annotations"]["candela.dev/provider-hosts"].split(",")
    assert {"api.openai.com", "api.anthropic.com", "generativelanguage.googleapis.com"} <= set(
        hosts
    )
