"""Kubernetes manifests (infra/k8s), checked offline: every rendered object against the
Kubernetes OpenAPI schemas (kubernetes-validate, pinned version), and against what the worker
knows: its settings, its HTTP paths and port, its topics, its partition count, its secrets.

The overlays are rendered by tests/unit/k8s_render.py (the kustomize subset they use).
"""

from __future__ import annotations

import base64
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from app import topics
from app.api.openapi import spec as openapi_spec
from app.settings import Settings, load_settings
from tests.unit.k8s_render import containers, pod_specs, render

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
OVERLAYS = ("dev", "prod")
# The schemas of this Kubernetes minor (kubernetes-validate ships them; the oldest minor still
# in common managed offerings when this was written).
KUBERNETES_VERSION = "1.30.0"
# Custom resources have no schema in kubernetes-validate; they are checked below by hand.
CUSTOM_API_GROUPS = ("monitoring.coreos.com/",)

# Environment variables a Lookout container may set that are not LOOKOUT_* settings, and why.
NON_LOOKOUT_ENV = {
    "POD_NAME": "downward API, used to build NODE_CANONICAL_URL",
    "POD_NAMESPACE": "downward API, used to build NODE_CANONICAL_URL",
    "NODE_CANONICAL_URL": "Faust's own setting: the URL peers use to reach this worker",
}
# Planned settings that another issue adds; kept in the Secret already.
PLANNED_SETTINGS = {"LOOKOUT_JWT_SECRET"}
# The Secret a real cluster creates itself (overlays/prod does not generate it).
EXTERNAL_SECRET = "lookout-secrets"


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def objects(overlay: str) -> list[dict[str, Any]]:
    return render(K8S / "overlays" / overlay)


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} rendered"
    return found[0]


def _by_plain_name(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """A generated ConfigMap/Secret by its name before the hash suffix."""
    found = [
        o
        for o in objects
        if o["kind"] == kind and re.fullmatch(rf"{name}(-[0-9a-f]{{10}})?", o["metadata"]["name"])
    ]
    assert len(found) == 1, f"{kind} {name}: {len(found)} rendered"
    return found[0]


def _lookout_containers(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for obj in objects:
        for pod in pod_specs(obj):
            for c in containers(pod):
                if c["image"].split("/")[-1].startswith("lookout:"):
                    out.append((f"{obj['kind']}/{obj['metadata']['name']}/{c['name']}", c))
    return out


def _config_maps(objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}


def _env(objects: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, Any]:
    """Name -> value (str) or valueFrom (dict) of a container, envFrom ConfigMaps included."""
    maps = _config_maps(objects)
    env: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        assert "secretRef" not in source, "secrets are named one by one (secretKeyRef)"
        env.update(maps[source["configMapRef"]["name"]])
    for item in container.get("env", []):
        env[item["name"]] = item.get("value", item.get("valueFrom"))
    return env


def _worker(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return _one(objects, "StatefulSet", "lookout-worker")


def _worker_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = [c for c in _worker(objects)["spec"]["template"]["spec"]["containers"]]
    return container


def _partitions(objects: list[dict[str, Any]], container: dict[str, Any]) -> int:
    return int(_env(objects, container)["LOOKOUT_PARTITIONS"])


# --- schemas ------------------------------------------------------------------------------------


def test_every_rendered_object_validates_against_the_kubernetes_schemas(
    objects: list[dict[str, Any]],
) -> None:
    errors = []
    checked = 0
    for obj in objects:
        if obj["apiVersion"].startswith(CUSTOM_API_GROUPS):
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            checked += 1
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {str(exc).splitlines()[0]}")
    assert not errors, "\n".join(errors)
    assert checked >= 12


def test_the_validator_rejects_what_kubernetes_rejects() -> None:
    # guards the test above: strict validation must catch an unknown field and a wrong type
    container = {"name": "c", "image": "i", "livenessProbe": {"httpGet": {"path": "/"}}}
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "x"},
        "spec": {"template": {"spec": {"containers": [container], "restartPolicy": "Never"}}},
    }
    with pytest.raises(kubernetes_validate.ValidationError):  # httpGet needs a port
        kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)
    container["livenessProbe"] = {"httpGet": {"path": "/", "port": 1}, "bogus": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)


def test_every_object_is_in_the_lookout_namespace(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "lookout", obj["metadata"]["name"]


# --- settings -----------------------------------------------------------------------------------


def test_every_environment_variable_is_a_lookout_setting(objects: list[dict[str, Any]]) -> None:
    notify_vars = _notify_variables()
    known = {f"LOOKOUT_{name.upper()}" for name in Settings.model_fields}
    for where, container in _lookout_containers(objects):
        for name in _env(objects, container):
            if name.startswith("LOOKOUT_"):
                assert name in known | PLANNED_SETTINGS, f"{where}: {name} is not a setting"
            else:
                assert name in NON_LOOKOUT_ENV or name in notify_vars, f"{where}: {name}?"


def test_lookout_containers_load_valid_settings(
    objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Each container's environment, with the Secret's values and mounted ConfigMaps, loads."""
    for where, container in _lookout_containers(objects):
        env = _resolve(objects, container, tmp_path / where.replace("/", "_"))
        settings = load_settings({k: v for k, v in env.items() if k not in PLANNED_SETTINGS})
        # every command needs all three: an unset one means the embedded stack (not here)
        assert settings.broker_url and settings.postgres_dsn and settings.elasticsearch_url, where
        assert settings.partitions >= 1


def _resolve(objects: list[dict[str, Any]], container: dict[str, Any], mounts: Path) -> dict:
    """Plain values of a container's environment; paths under ConfigMap mounts point at a copy."""
    pods = [p for o in objects for p in pod_specs(o) if container in containers(p)]
    (pod,) = pods
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    maps = _config_maps(objects)
    places = {}
    for mount in container.get("volumeMounts", []):
        source = volumes[mount["name"]].get("configMap")
        if source:
            folder = mounts / mount["name"]
            folder.mkdir(parents=True)
            for key, text in maps[source["name"]].items():
                (folder / key).write_text(text)
            places[mount["mountPath"]] = str(folder)
    env = {}
    for name, value in _env(objects, container).items():
        if isinstance(value, dict):
            ref = value.get("secretKeyRef")
            if ref is None:
                continue  # downward API
            value = _secret_value(objects, ref)
            if value is None:
                continue
        for path, folder in places.items():
            if value == path or value.startswith(path + "/"):
                value = folder + value[len(path) :]
        env[name] = value
    return env


def _secret_value(objects: list[dict[str, Any]], ref: dict[str, Any]) -> str | None:
    secrets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    if ref["name"] in secrets:
        data = secrets[ref["name"]]["data"]
        if ref["key"] in data:
            return base64.b64decode(data[ref["key"]]).decode()
        assert ref.get("optional"), f"{ref['name']} has no key {ref['key']}"
        return None
    assert ref["name"] == EXTERNAL_SECRET, f"unknown Secret {ref['name']}"
    # created by the operator: stand-in values of the documented shape
    return {"postgres-dsn": "postgresql://u:p@db:5432/lookout"}.get(ref["key"], "x")


def _notify_variables() -> set[str]:
    named = set(re.findall(r"\$\{([A-Z_]+)\}", (ROOT / "notify" / "notify.yaml").read_text()))
    named.discard("VAR")  # the comment that explains ${VAR}
    return named


# --- secrets ------------------------------------------------------------------------------------


def _secret_names() -> set[str]:
    secret_settings = {
        f"LOOKOUT_{name.upper()}"
        for name, info in Settings.model_fields.items()
        if "SecretStr" in str(info.annotation)
    }
    return secret_settings | PLANNED_SETTINGS | _notify_variables()


def test_secrets_come_only_from_secrets(objects: list[dict[str, Any]]) -> None:
    secret = _secret_names()
    assert {"LOOKOUT_POSTGRES_DSN", "LOOKOUT_API_TOKEN", "SMTP_PASSWORD"} <= secret
    for where, container in _lookout_containers(objects):
        for item in container.get("env", []):
            if item["name"] in secret:
                assert set(item.get("valueFrom", {})) == {"secretKeyRef"}, f"{where}: {item}"
    for name, data in _config_maps(objects).items():
        for key, text in data.items():
            assert key not in secret, f"ConfigMap {name} holds {key}"
            assert not re.search(r"postgres(ql)?://[^:/\s]+:[^@\s]+@", text), f"{name}/{key}"


def test_every_secret_reference_resolves(objects: list[dict[str, Any]], overlay: str) -> None:
    rendered = {o["metadata"]["name"] for o in objects if o["kind"] == "Secret"}
    doc = (ROOT / "docs" / "KUBERNETES.md").read_text()
    for obj in objects:
        for pod in pod_specs(obj):
            for c in containers(pod):
                for item in c.get("env", []):
                    ref = item.get("valueFrom", {}).get("secretKeyRef")
                    if not ref:
                        continue
                    if overlay == "dev":
                        assert ref["name"] in rendered, ref
                    else:
                        assert ref["name"] == EXTERNAL_SECRET, ref
                        assert f"--from-literal={ref['key']}=" in doc, f"{ref['key']} undocumented"


# --- HTTP: probes, ports, Services ---------------------------------------------------------------


def _probes(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    kinds = ("startupProbe", "readinessProbe", "livenessProbe")
    return {k: container[k] for k in kinds if k in container}


def test_worker_probes_use_paths_and_the_port_the_worker_serves(
    objects: list[dict[str, Any]],
) -> None:
    paths = set(openapi_spec()["paths"])
    container = _worker_container(objects)
    probes = _probes(container)
    assert set(probes) == {"startupProbe", "readinessProbe", "livenessProbe"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    web_port = int(_env(objects, container)["LOOKOUT_WEB_PORT"])
    assert ports == {"web": web_port}
    for kind, probe in probes.items():
        if "httpGet" in probe:
            assert probe["httpGet"]["path"] in paths, kind
            assert ports.get(probe["httpGet"]["port"], probe["httpGet"]["port"]) == web_port
        else:
            script = " ".join(probe["exec"]["command"])
            used = re.findall(r"/api/[a-z/]+", script)
            assert used and set(used) <= paths, kind
    # the startup probe covers a long changelog recovery before liveness can kill the worker
    startup = probes["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600
    assert "httpGet" in probes["readinessProbe"], "ready while rebalancing (HTTP 200)"
    assert _env(objects, container)["LOOKOUT_WEB_HOST"] == "0.0.0.0"


def test_services_reach_the_worker_web_port(objects: list[dict[str, Any]]) -> None:
    worker = _worker(objects)
    labels = worker["spec"]["template"]["metadata"]["labels"]
    container = _worker_container(objects)
    port_names = {p["name"] for p in container["ports"]}
    web_port = int(_env(objects, container)["LOOKOUT_WEB_PORT"])
    for name in ("lookout-worker-peers", "lookout-api"):
        service = _one(objects, "Service", name)
        assert service["spec"]["selector"].items() <= labels.items(), name
        (port,) = service["spec"]["ports"]
        assert port["targetPort"] in port_names and port["port"] == web_port
    peers = _one(objects, "Service", worker["spec"]["serviceName"])
    assert peers["spec"]["clusterIP"] == "None", "pod DNS names need a headless Service"
    assert peers["spec"]["publishNotReadyAddresses"] is True


def test_workers_advertise_their_stable_address(objects: list[dict[str, Any]]) -> None:
    worker = _worker(objects)
    env = _env(objects, _worker_container(objects))
    url = urlsplit(env["NODE_CANONICAL_URL"])
    service = worker["spec"]["serviceName"]
    assert url.hostname == f"$(pod_name).{service}.$(pod_namespace).svc.cluster.local"
    assert url.port == int(env["LOOKOUT_WEB_PORT"])
    # $(VAR) expands only for variables defined earlier in the list
    names = [e["name"] for e in _worker_container(objects)["env"]]
    assert names.index("POD_NAME") < names.index("NODE_CANONICAL_URL")
    assert names.index("POD_NAMESPACE") < names.index("NODE_CANONICAL_URL")
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_startup_probe_waits_for_the_first_assignment(tmp_path: Path) -> None:
    """The startup probe's script, run against a stand-in /api/health: ok passes, else fails."""
    import http.server
    import json
    import subprocess
    import sys
    import threading

    command = _worker_container(render(K8S / "overlays" / "dev"))["startupProbe"]["exec"]
    assert command["command"][:2] == ["python", "-c"]
    answer = {"status": "rebalancing"}

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({**answer, "partitions": []}).encode()
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def probe() -> int:
        env = {"LOOKOUT_WEB_PORT": str(server.server_address[1])}
        script = command["command"][2]
        return subprocess.run([sys.executable, "-c", script], env=env, timeout=30).returncode

    try:
        assert probe() != 0
        answer["status"] = "ok"
        assert probe() == 0
    finally:
        server.shutdown()
        server.server_close()
    assert probe() != 0, "no web server: not started"


# --- scaling: partitions, HPA, PDB --------------------------------------------------------------


def test_replicas_never_exceed_the_partitions(objects: list[dict[str, Any]]) -> None:
    container = _worker_container(objects)
    partitions = _partitions(objects, container)
    assert partitions == Settings.model_fields["partitions"].default
    assert 1 <= _worker(objects)["spec"]["replicas"] <= partitions
    hpa = _one(objects, "HorizontalPodAutoscaler", "lookout-worker")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": "lookout-worker",
    }
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= partitions
    sinks = _one(objects, "Deployment", "lookout-sinks")
    (sink,) = sinks["spec"]["template"]["spec"]["containers"]
    assert sinks["spec"]["replicas"] <= _partitions(objects, sink)


def test_hpa_scales_on_the_lag_metric_the_adapter_serves(objects: list[dict[str, Any]]) -> None:
    hpa = _one(objects, "HorizontalPodAutoscaler", "lookout-worker")
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    name = metric["pods"]["metric"]["name"]
    values = yaml.safe_load((K8S / "monitoring" / "prometheus-adapter-values.yaml").read_text())
    (rule,) = values["rules"]["custom"]
    assert rule["name"]["as"] == name == "lookout_input_lag"
    assert rule["seriesQuery"].startswith(name + "{")
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}
    assert "by (<<.GroupBy>>)" in rule["metricsQuery"]
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300


def test_disruption_budget_keeps_workers_up(objects: list[dict[str, Any]]) -> None:
    pdb = _one(objects, "PodDisruptionBudget", "lookout-worker")
    labels = _worker(objects)["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1
    hpa = _one(objects, "HorizontalPodAutoscaler", "lookout-worker")
    assert hpa["spec"]["minReplicas"] > pdb["spec"]["maxUnavailable"]


def test_rolling_update_replaces_one_worker_at_a_time(objects: list[dict[str, Any]]) -> None:
    spec = _worker(objects)["spec"]
    assert spec["updateStrategy"]["type"] == "RollingUpdate"
    assert spec["updateStrategy"]["rollingUpdate"]["maxUnavailable"] == 1
    pod = spec["template"]["spec"]
    # a clean Faust stop takes seconds (tests/integration/test_rolling_update.py measures it)
    assert 30 <= pod["terminationGracePeriodSeconds"] <= 300


def test_worker_resources_cover_the_measured_peak_rss(objects: list[dict[str, Any]]) -> None:
    text = (ROOT / "docs" / "BENCHMARKS.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| peak RSS, W2 worker"))
    measured = row.split("|")[2]
    peak_mb = max(int(n) for n in re.findall(r"(\d+) MB", measured))
    resources = _worker_container(objects)["resources"]
    request, limit = (_mebibytes(resources[k]["memory"]) for k in ("requests", "limits"))
    assert peak_mb * 1e6 <= request * 2**20 < limit * 2**20
    assert limit >= 2 * peak_mb


def _mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


# --- rules and notify file ----------------------------------------------------------------------


def test_rules_and_notify_file_are_mounted_from_config_maps(
    objects: list[dict[str, Any]],
) -> None:
    container = _worker_container(objects)
    env = _env(objects, container)
    pod = _worker(objects)["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    maps = _config_maps(objects)
    rules = mounts[env["LOOKOUT_RULES"]]["configMap"]["name"]
    assert maps[rules] == {"default.yaml": (ROOT / "rules" / "default.yaml").read_text()}
    folder, _, file = env["LOOKOUT_NOTIFY_FILE"].rpartition("/")
    notify = mounts[folder]["configMap"]["name"]
    assert maps[notify] == {file: (ROOT / "notify" / "notify.yaml").read_text()}
    # the names carry a content hash: a change renames them and so rolls the workers
    assert re.fullmatch(r"lookout-rules-[0-9a-f]{10}", rules)
    assert re.fullmatch(r"lookout-notify-[0-9a-f]{10}", notify)


# --- jobs and sinks -----------------------------------------------------------------------------


def test_setup_jobs_run_the_idempotent_commands(objects: list[dict[str, Any]]) -> None:
    for name, command in (("lookout-topics", "topics"), ("lookout-migrate", "migrate")):
        job = _one(objects, "Job", name)
        pod = job["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == [command]
        assert pod["restartPolicy"] == "OnFailure"
        assert job["spec"]["ttlSecondsAfterFinished"] > 0
    from app.cli import HELP

    assert re.search(r"^  topics ", HELP, re.M) and re.search(r"^  migrate ", HELP, re.M)


def test_sinks_run_apart_and_workers_do_not_sink(objects: list[dict[str, Any]]) -> None:
    (sink,) = _one(objects, "Deployment", "lookout-sinks")["spec"]["template"]["spec"]["containers"]
    assert sink["args"] == ["sinks"]
    assert _env(objects, sink)["LOOKOUT_SINKS"] == "all"
    assert _env(objects, _worker_container(objects))["LOOKOUT_SINKS"] == "none"
    assert not _probes(sink), "`lookout sinks` serves no HTTP"


def test_images_are_pinned_by_the_overlay(objects: list[dict[str, Any]], overlay: str) -> None:
    images = {c["image"] for _, c in _lookout_containers(objects)}
    assert len(images) == 1
    (image,) = images
    assert not image.endswith(":latest")
    for obj in objects:
        for pod in pod_specs(obj):
            for c in containers(pod):
                assert ":" in c["image"].split("/")[-1], f"{c['image']} has no tag"


# --- Telegraf -----------------------------------------------------------------------------------


def _telegraf_config(objects: list[dict[str, Any]], obj: dict[str, Any], name: str) -> dict:
    pod = pod_specs(obj)[0]
    (container,) = [c for c in pod["containers"] if c["name"] == name]
    volumes = {v["name"]: v for v in pod["volumes"]}
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/etc/telegraf"]
    text = _config_maps(objects)[volumes[mount["name"]]["configMap"]["name"]]["telegraf.conf"]
    env = _env(objects, container)
    for variable in re.findall(r"\$\{(\w+)\}", text):
        assert variable in env, f"{obj['metadata']['name']}: ${{{variable}}} is not set"
    assert text.count("$") == len(re.findall(r"\$\{\w+\}", text))
    return {"toml": tomllib.loads(text), "env": env, "container": container, "pod": pod}


def _broker(objects: list[dict[str, Any]]) -> str:
    url = _env(objects, _worker_container(objects))["LOOKOUT_BROKER_URL"]
    return url.split(",")[0].removeprefix("kafka://")


def test_telegraf_daemonset_sends_host_metrics_keyed_by_host(
    objects: list[dict[str, Any]],
) -> None:
    daemonset = _one(objects, "DaemonSet", "telegraf")
    config = _telegraf_config(objects, daemonset, "telegraf")
    toml, env = config["toml"], config["env"]
    (output,) = toml["outputs"]["kafka"]
    assert output["topic"] == topics.METRICS
    assert output["routing_tag"] == "host"
    assert output["data_format"] == "json"
    assert toml["agent"]["hostname"] == "${NODE_NAME}"
    assert env["NODE_NAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert env["KAFKA_BROKERS"] == _broker(objects)
    compose = tomllib.loads((ROOT / "infra" / "telegraf" / "telegraf.conf").read_text())
    (compose_metrics,) = [o for o in compose["outputs"]["kafka"] if o["topic"] == topics.METRICS]
    assert output == compose_metrics
    for name in output["namepass"]:
        assert toml["inputs"][name] == compose["inputs"][name], name
    # the host's filesystems, as the Telegraf image documents
    mounts = {m["mountPath"]: m for m in config["container"]["volumeMounts"]}
    volumes = {v["name"]: v for v in config["pod"]["volumes"]}
    assert volumes[mounts["/hostfs"]["name"]]["hostPath"]["path"] == "/"
    assert mounts["/hostfs"]["readOnly"] is True
    for part in ("ETC", "PROC", "SYS", "VAR", "RUN"):
        assert env[f"HOST_{part}"] == f"/hostfs/{part.lower()}"
    assert env["HOST_MOUNT_PREFIX"] == "/hostfs"
    assert config["pod"]["hostNetwork"] is True


def test_telegraf_sidecar_tails_nginx_as_the_compose_agent_does() -> None:
    objects = render(K8S / "overlays" / "dev")
    demo = _one(objects, "Deployment", "nginx-demo")
    config = _telegraf_config(objects, demo, "telegraf")
    toml = config["toml"]
    (output,) = toml["outputs"]["kafka"]
    assert output["topic"] == topics.LOGS_NGINX
    assert output["routing_tag"] == "host"
    compose = tomllib.loads((ROOT / "infra" / "telegraf" / "telegraf.conf").read_text())
    assert toml["inputs"]["tail"] == compose["inputs"]["tail"]
    assert config["env"]["KAFKA_BROKERS"] == _broker(objects)
    # nginx writes where the sidecar reads (one shared emptyDir)
    (nginx,) = [c for c in config["pod"]["containers"] if c["name"] == "nginx"]
    folders = {Path(f).parent.as_posix() for t in toml["inputs"]["tail"] for f in t["files"]}
    nginx_mounts = {m["mountPath"]: m["name"] for m in nginx["volumeMounts"]}
    sidecar_mounts = {m["mountPath"]: m["name"] for m in config["container"]["volumeMounts"]}
    for folder in folders:
        assert nginx_mounts[folder] == sidecar_mounts[folder]


# --- network ------------------------------------------------------------------------------------


def _egress_ports(policy: dict[str, Any]) -> set[int]:
    return {p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports", [])}


def _service_ports(objects: list[dict[str, Any]], container: dict[str, Any]) -> set[int]:
    """Ports of the broker, Elasticsearch and PostgreSQL a container is configured to use."""
    env = _env(objects, container)
    ports = {int(part.rsplit(":", 1)[1]) for part in env["LOOKOUT_BROKER_URL"].split(",")}
    ports.add(urlsplit(env["LOOKOUT_ELASTICSEARCH_URL"]).port or 9200)
    dsn = _secret_value(objects, env["LOOKOUT_POSTGRES_DSN"]["secretKeyRef"])
    assert dsn
    ports.add(urlsplit(dsn).port or 5432)
    return ports


def test_workers_reach_only_their_services_and_peers(objects: list[dict[str, Any]]) -> None:
    container = _worker_container(objects)
    policy = _one(objects, "NetworkPolicy", "lookout-worker")
    labels = _worker(objects)["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    web_port = int(_env(objects, container)["LOOKOUT_WEB_PORT"])
    dns = {53}
    expected = _service_ports(objects, container) | {web_port} | dns
    assert _egress_ports(policy) == expected
    peer_rules = [
        r for r in policy["spec"]["egress"] if any(p["port"] == web_port for p in r["ports"])
    ]
    (peer_rule,) = peer_rules
    (peer,) = peer_rule["to"]
    assert set(peer) == {"podSelector"}, "peers only, in this namespace"
    assert peer["podSelector"]["matchLabels"].items() <= labels.items()
    assert {p["port"] for r in policy["spec"]["ingress"] for p in r["ports"]} == {web_port}
    notify = _one(objects, "NetworkPolicy", "lookout-worker-notify")
    assert notify["spec"]["policyTypes"] == ["Egress"]
    assert _egress_ports(notify) == {443, 587, 465}


def test_sinks_reach_only_their_services(objects: list[dict[str, Any]]) -> None:
    (sink,) = _one(objects, "Deployment", "lookout-sinks")["spec"]["template"]["spec"]["containers"]
    policy = _one(objects, "NetworkPolicy", "lookout-sinks")
    assert _egress_ports(policy) == _service_ports(objects, sink) | {53}
    assert policy["spec"]["ingress"] == []


def test_service_monitor_scrapes_the_metrics_path() -> None:
    objects = render(K8S / "overlays" / "prod")
    monitor = _one(objects, "ServiceMonitor", "lookout-worker")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] in openapi_spec()["paths"]
    selected = [
        o
        for o in objects
        if o["kind"] == "Service"
        and monitor["spec"]["selector"]["matchLabels"].items() <= o["metadata"]["labels"].items()
    ]
    assert selected
    for service in selected:
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert "monitoring.coreos.com" not in yaml.safe_dump(render(K8S / "overlays" / "dev"))


def test_faust_reads_the_advertised_address_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without NODE_CANONICAL_URL a worker bound to 0.0.0.0 would advertise 0.0.0.0 to peers."""
    import faust

    env = _env(
        render(K8S / "overlays" / "dev"), _worker_container(render(K8S / "overlays" / "dev"))
    )
    url = env["NODE_CANONICAL_URL"].replace("$(POD_NAME)", "w-1").replace("$(POD_NAMESPACE)", "ns")
    monkeypatch.setenv("NODE_CANONICAL_URL", url)
    app = faust.App("canonical-check", web_host="0.0.0.0", web_port=6066)
    assert (
        str(app.conf.canonical_url) == "http://w-1.lookout-worker-peers.ns.svc.cluster.local:6066"
    )
    monkeypatch.delenv("NODE_CANONICAL_URL")
    bare = faust.App("canonical-check", web_host="0.0.0.0", web_port=6066)
    assert str(bare.conf.canonical_url) == "http://0.0.0.0:6066"
