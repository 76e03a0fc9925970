"""What ships for operators: docker-compose.yml (Compose specification schema), Prometheus and
Grafana provisioning, and the Kubernetes manifests (Kubernetes schemas, offline).

No Docker engine or cluster runs here, so these files are checked the way their tools would
read them: against the published schemas, and against the worker they describe.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from goldrush.agents.metrics import CATALOGUE, HISTOGRAMS
from goldrush.cli.main import build_parser
from goldrush.loader import load_patterns

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
K8S_VERSION = "1.30.0"  # the oldest release still maintained upstream when this was written


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_the_compose_file_follows_the_compose_specification():
    """tests/schemas/compose-spec.json is the specification's schema, shipped here (see its README)."""
    schema = json.loads((ROOT / "tests" / "schemas" / "compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_schema_refuses_a_broken_compose_file():
    """The check can fail: a misspelt key and a wrong type are both caught."""
    schema = json.loads((ROOT / "tests" / "schemas" / "compose-spec.json").read_text())
    broken = compose()
    broken["services"]["grafana"]["port"] = ["3000:3000"]
    broken["services"]["prometheus"]["depends_on"] = "worker-1"
    assert len(list(jsonschema.Draft7Validator(schema).iter_errors(broken))) >= 2


def test_every_mounted_file_is_in_the_repository():
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"


def test_prometheus_scrapes_every_worker_on_its_web_port():
    services = compose()["services"]
    workers = {name for name, s in services.items() if "worker" in s.get("command", [])}
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    port = build_parser().parse_args(["worker"]).web_port
    assert targets == {f"{w}:{port}" for w in workers}
    assert all(job.get("metrics_path", "/metrics") == "/metrics" for job in config["scrape_configs"])


def exported_series() -> set[str]:
    names = set(CATALOGUE)
    for name in HISTOGRAMS:
        names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def test_the_grafana_dashboard_uses_only_metrics_the_worker_exports_and_the_provisioned_datasource():
    board = json.loads((DEPLOY / "grafana" / "dashboards" / "goldrush.json").read_text())
    sources = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uids = {d["uid"] for d in sources["datasources"]}
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"\bgoldrush_[a-z_]+", e)}
    assert used and used <= exported_series(), used - exported_series()
    assert {"goldrush_detection_latency_seconds_bucket", "goldrush_batch_seconds_bucket"} <= used
    assert {p["datasource"]["uid"] for p in board["panels"]} == uids
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "goldrush.yml").read_text())
    grafana = compose()["services"]["grafana"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    path = provider["providers"][0]["options"]["path"]
    assert (ROOT / mounted[path] / "goldrush.json").exists()
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{path}/goldrush.json"


def manifests() -> list[tuple[str, dict]]:
    return [(f.name, doc) for f in sorted(K8S.glob("*.yaml")) if f.name != "kustomization.yaml"
            for doc in yaml.safe_load_all(f.read_text()) if doc]


@pytest.mark.parametrize("name, doc", manifests(), ids=lambda v: v if isinstance(v, str) else v["kind"])
def test_every_kubernetes_manifest_is_valid(name, doc):
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_a_broken_manifest_is_refused():
    doc = next(d for _, d in manifests() if d["kind"] == "Deployment")
    broken = json.loads(json.dumps(doc))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] = ["http"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_the_kubernetes_deployment_fits_the_worker():
    docs = {doc["kind"]: doc for _, doc in manifests()}
    assert set(docs) == {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget"}
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(f.name for f in K8S.glob("*.yaml")
                                                         if f.name != "kustomization.yaml")
    deployment = docs["Deployment"]
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    args = build_parser().parse_args(container["args"])  # every flag is one the worker takes
    port = next(p for p in container["ports"] if p["name"] == "http")["containerPort"]
    assert args.web_port == port and args.web_host == "0.0.0.0"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert pod["spec"]["terminationGracePeriodSeconds"] > args.stop_timeout
    labels = pod["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        selector = docs[kind]["spec"]["selector"]
        selector = selector.get("matchLabels", selector)
        assert selector.items() <= labels.items(), kind
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert docs["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    mount = next(m for m in container["volumeMounts"] if m["name"] == "patterns")
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "patterns")
    assert volume["configMap"]["name"] == docs["ConfigMap"]["metadata"]["name"]
    assert Path(args.patterns).parent == Path(mount["mountPath"])
    assert Path(args.patterns).name in docs["ConfigMap"]["data"]


def test_the_patterns_config_map_loads(tmp_path):
    config_map = next(doc for _, doc in manifests() if doc["kind"] == "ConfigMap")
    (tmp_path / "patterns.py").write_text(config_map["data"]["patterns.py"])
    names = [p.name for p in load_patterns(str(tmp_path / "patterns.py"))]
    assert "checkout_errors" in names and "variety_imbalance" in names
