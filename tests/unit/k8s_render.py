"""A small, offline kustomize for the tests: exactly the features infra/k8s uses, nothing more.

Supported (anything else in a kustomization.yaml is an error, so the manifests cannot drift
past what this renders):

- ``resources``: YAML files (several documents each) and folders with a kustomization.yaml;
- ``namespace``: set on every namespaced object;
- ``labels`` with ``includeSelectors: false``: added to every object's metadata.labels;
- ``images``: ``name`` -> ``newName`` / ``newTag`` in every container of every pod template;
- ``patches`` with ``path``: a strategic merge of one whole object, found by kind and name
  (maps merge; ``containers``, ``initContainers``, ``env``, ``volumes`` merge by ``name``,
  ``volumeMounts`` by ``mountPath``, container ``ports`` by ``containerPort``; other lists are
  replaced, as for lists without a patch merge key);
- ``configMapGenerator`` / ``secretGenerator`` with ``files`` (``key=path`` or ``path``),
  ``literals`` and ``behavior`` ``create`` / ``merge`` / ``replace``: the generated name gets a
  content hash suffix, and references to the plain name in pod templates (volumes, env
  ``valueFrom``, ``envFrom``) are rewritten to it. The suffix is a sha256 prefix, not
  kustomize's own encoding; what matters here is the behaviour: a content change renames the
  object and so changes (rolls) the pods that use it.

Paths may leave the kustomization's folder (kustomize needs ``--load-restrictor
LoadRestrictionsNone`` for that; docs/KUBERNETES.md uses it).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "images",
    "patches",
    "configMapGenerator",
    "secretGenerator",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}
GENERATORS = {"configMapGenerator": "ConfigMap", "secretGenerator": "Secret"}


class RenderError(ValueError):
    """The kustomization uses something this renderer does not implement, or is wrong."""


@dataclass
class _Build:
    objects: list[dict[str, Any]] = field(default_factory=list)
    # (kind, plain name) of generated objects; their names get the hash suffix at the end
    generated: set[tuple[str, str]] = field(default_factory=set)


def render(folder: Path) -> list[dict[str, Any]]:
    """Render the kustomization in ``folder`` to a list of Kubernetes objects."""
    build = _build(folder.resolve())
    renames = {}
    for obj in build.objects:
        key = (obj["kind"], obj["metadata"]["name"])
        if key in build.generated:
            obj["metadata"]["name"] = renames[key] = f"{key[1]}-{_hash(obj)}"
    for obj in build.objects:
        for pod in pod_specs(obj):
            _rename_references(pod, renames)
    return build.objects


def _build(folder: Path) -> _Build:
    path = folder / "kustomization.yaml"
    if not path.is_file():
        raise RenderError(f"{folder}: no kustomization.yaml")
    spec = yaml.safe_load(path.read_text()) or {}
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise RenderError(f"{path}: not implemented by k8s_render: {sorted(unknown)}")
    build = _Build()
    for entry in spec.get("resources", []):
        target = (folder / entry).resolve()
        if target.is_dir():
            sub = _build(target)
            build.objects += sub.objects
            build.generated |= sub.generated
        else:
            build.objects += [d for d in yaml.safe_load_all(target.read_text()) if d]
    for key, kind in GENERATORS.items():
        for generator in spec.get(key, []):
            _generate(folder, kind, generator, build)
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise RenderError(f"{path}: only patches with a path are implemented: {patch}")
        _patch(build.objects, yaml.safe_load((folder / patch["path"]).read_text()))
    if "namespace" in spec:
        for obj in build.objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = spec["namespace"]
    for entry in spec.get("labels", []):
        if entry.get("includeSelectors") or entry.get("includeTemplates"):
            raise RenderError(f"{path}: labels are implemented for metadata only")
        for obj in build.objects:
            obj["metadata"].setdefault("labels", {}).update(entry["pairs"])
    for image in spec.get("images", []):
        _set_image(build.objects, image)
    return build


def _generate(folder: Path, kind: str, generator: dict[str, Any], build: _Build) -> None:
    data: dict[str, str] = {}
    for item in generator.get("files", []):
        key, _, source = item.rpartition("=")
        data[key or Path(source).name] = (folder / source).read_text()
    for item in generator.get("literals", []):
        key, _, value = item.partition("=")
        data[key] = value
    name, behavior = generator["name"], generator.get("behavior", "create")
    if kind == "Secret":
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        new = {"apiVersion": "v1", "kind": kind, "type": "Opaque", "data": encoded}
    else:
        new = {"apiVersion": "v1", "kind": kind, "data": data}
    new["metadata"] = {"name": name}
    existing = _find(build.objects, kind, name) if (kind, name) in build.generated else None
    if behavior == "create":
        if existing is not None:
            raise RenderError(f"{kind} {name} is generated twice (use behavior: merge)")
        build.objects.append(new)
        build.generated.add((kind, name))
    elif behavior in ("merge", "replace"):
        if existing is None:
            raise RenderError(f"{kind} {name}: behavior {behavior} needs a generated base")
        if behavior == "replace":
            existing["data"] = {}
        existing["data"].update(new["data"])
    else:
        raise RenderError(f"{kind} {name}: unknown behavior {behavior!r}")


def _find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise RenderError(f"no {kind} {name} to patch")


def _patch(objects: list[dict[str, Any]], patch: dict[str, Any]) -> None:
    target = _find(objects, patch["kind"], patch["metadata"]["name"])
    merged = strategic_merge(target, patch)
    objects[objects.index(target)] = merged


def strategic_merge(base: Any, patch: Any, key: str = "") -> Any:
    """Merge ``patch`` into a copy of ``base`` (see the module docstring for the list rules)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = copy.deepcopy(base)
        for k, v in patch.items():
            out[k] = strategic_merge(base[k], v, k) if k in base else copy.deepcopy(v)
        return out
    merge_key = MERGE_KEYS.get(key)
    if isinstance(base, list) and isinstance(patch, list) and merge_key:
        items = base + patch
        if all(isinstance(i, dict) and merge_key in i for i in items):
            out = [copy.deepcopy(i) for i in base]
            for item in patch:
                at = next((n for n, b in enumerate(out) if b[merge_key] == item[merge_key]), None)
                if at is None:
                    out.append(copy.deepcopy(item))
                else:
                    out[at] = strategic_merge(out[at], item)
            return out
    return copy.deepcopy(patch)


def pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod spec(s) inside a workload object (none for other kinds)."""
    if obj["kind"] == "Pod":
        return [obj["spec"]]
    template = obj.get("spec", {}).get("template", {})
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job") and template:
        return [template["spec"]]
    return []


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """Init and regular containers of a pod spec."""
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def _set_image(objects: list[dict[str, Any]], image: dict[str, Any]) -> None:
    for obj in objects:
        for pod in pod_specs(obj):
            for container in containers(pod):
                name = container["image"].split("@")[0].rsplit(":", 1)[0]
                if name == image["name"]:
                    new = image.get("newName", name)
                    container["image"] = f"{new}:{image['newTag']}" if "newTag" in image else new


def _rename_references(pod: dict[str, Any], renames: dict[tuple[str, str], str]) -> None:
    def rename(holder: dict[str, Any] | None, field_name: str, kind: str) -> None:
        if holder and (kind, holder.get(field_name)) in renames:
            holder[field_name] = renames[(kind, holder[field_name])]

    for volume in pod.get("volumes", []):
        rename(volume.get("configMap"), "name", "ConfigMap")
        rename(volume.get("secret"), "secretName", "Secret")
    for container in containers(pod):
        for env in container.get("env", []):
            source = env.get("valueFrom", {})
            rename(source.get("configMapKeyRef"), "name", "ConfigMap")
            rename(source.get("secretKeyRef"), "name", "Secret")
        for env_from in container.get("envFrom", []):
            rename(env_from.get("configMapRef"), "name", "ConfigMap")
            rename(env_from.get("secretRef"), "name", "Secret")


def _hash(obj: dict[str, Any]) -> str:
    content = json.dumps({"kind": obj["kind"], "data": obj.get("data", {})}, sort_keys=True)
    return hashlib.sha256(content.encode()).hexdigest()[:10]
