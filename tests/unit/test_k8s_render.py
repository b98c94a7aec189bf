"""The offline kustomize subset (tests/unit/k8s_render.py) on small kustomizations in tmp dirs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.k8s_render import RenderError, render, strategic_merge

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "lookout",
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        "envFrom": [{"configMapRef": {"name": "settings"}}],
                    },
                    {"name": "side", "image": "telegraf:1.36"},
                ],
                "volumes": [{"name": "rules", "configMap": {"name": "rules"}}],
            }
        }
    },
}


def _write(folder: Path, kustomization: dict[str, Any], **files: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    for name, content in files.items():
        text = content if isinstance(content, str) else yaml.safe_dump(content)
        (folder / name.replace("__", ".")).write_text(text)
    return folder


def _base(tmp_path: Path, rules: str = "a: 1\n") -> Path:
    return _write(
        tmp_path / "base",
        {
            "resources": ["web.yaml"],
            "configMapGenerator": [
                {"name": "rules", "files": ["rules.yaml"]},
                {"name": "settings", "literals": ["X=1"]},
            ],
        },
        web__yaml=DEPLOYMENT,
        rules__yaml=rules,
    )


def _by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_generated_names_carry_a_content_hash_and_references_follow(tmp_path: Path) -> None:
    one = render(_base(tmp_path / "one"))
    two = render(_base(tmp_path / "two", rules="a: 2\n"))
    names = [{m["metadata"]["name"] for m in _by_kind(o, "ConfigMap")} for o in (one, two)]
    assert names[0] != names[1], "a content change renames the ConfigMap"
    (web,) = _by_kind(one, "Deployment")
    pod = web["spec"]["template"]["spec"]
    assert pod["volumes"][0]["configMap"]["name"] in names[0]
    assert pod["containers"][0]["envFrom"][0]["configMapRef"]["name"] in names[0]
    assert _by_kind(one, "ConfigMap")[0]["data"] == {"rules.yaml": "a: 1\n"}


def test_overlay_patches_merge_generators_namespace_and_images(tmp_path: Path) -> None:
    _base(tmp_path)
    patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "template": {
                "spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "9"}]}]}
            },
        },
    }
    overlay = _write(
        tmp_path / "overlay",
        {
            "namespace": "ns",
            "resources": ["../base"],
            "patches": [{"path": "patch.yaml"}],
            "images": [{"name": "lookout", "newName": "reg/lookout", "newTag": "1.0"}],
            "labels": [{"pairs": {"team": "ops"}, "includeSelectors": False}],
            "configMapGenerator": [{"name": "settings", "behavior": "merge", "literals": ["Y=2"]}],
            "secretGenerator": [{"name": "s", "literals": ["k=v"]}],
        },
        patch__yaml=patch,
    )
    objects = render(overlay)
    (web,) = _by_kind(objects, "Deployment")
    app, side = web["spec"]["template"]["spec"]["containers"]
    assert web["spec"]["replicas"] == 3
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "9"}]
    assert app["image"] == "reg/lookout:1.0" and side["image"] == "telegraf:1.36"
    assert all(o["metadata"]["namespace"] == "ns" for o in objects)
    assert all(o["metadata"]["labels"] == {"team": "ops"} for o in objects)
    settings = [m for m in _by_kind(objects, "ConfigMap") if "X" in m["data"]]
    assert settings[0]["data"] == {"X": "1", "Y": "2"}
    (secret,) = _by_kind(objects, "Secret")
    assert secret["data"] == {"k": "dg=="}


def test_lists_without_a_merge_key_are_replaced() -> None:
    base = {"egress": [{"ports": [{"port": 1}]}, {"ports": [{"port": 2}]}], "keep": 1}
    assert strategic_merge(base, {"egress": [{"ports": [{"port": 3}]}]}) == {
        "egress": [{"ports": [{"port": 3}]}],
        "keep": 1,
    }


@pytest.mark.parametrize(
    "kustomization",
    [
        {"resources": [], "commonLabels": {"a": "b"}},
        {"resources": [], "patchesStrategicMerge": ["x.yaml"]},
        {"resources": [], "labels": [{"pairs": {"a": "b"}, "includeSelectors": True}]},
        {"resources": [], "patches": [{"path": "x.yaml", "target": {"kind": "Service"}}]},
    ],
)
def test_unimplemented_features_are_refused(tmp_path: Path, kustomization: dict) -> None:
    with pytest.raises(RenderError):
        render(_write(tmp_path / "k", kustomization))
