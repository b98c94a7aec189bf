"""The container image recipe (infra/Dockerfile, .dockerignore) and the CI workflow, checked
without Docker: stages, base pin, user, health check, build context, and what CI runs."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.api.openapi import spec as openapi_spec
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "infra" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
BUILD_TOOLS = ("gcc", "g++", "build-essential", "make", "git", "cargo", "rustc")


def _stages() -> list[tuple[str, str]]:
    """(FROM line, body) of every stage, in order."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    parts = re.split(r"^(FROM .*)$", text, flags=re.M)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def test_build_is_multi_stage_on_one_pinned_base() -> None:
    stages = _stages()
    assert len(stages) >= 2
    bases = {re.match(r"FROM (\S+)", line).group(1) for line, _ in stages}  # type: ignore[union-attr]
    assert len(bases) == 1, f"stages on different bases: {bases}"
    (base,) = bases
    image, _, tag = base.partition(":")
    assert image == "python"
    # a Python minor and a Debian release: never a floating tag
    assert re.fullmatch(r"3\.11(\.\d+)?-slim-(bookworm|trixie)(@sha256:[0-9a-f]{64})?", tag), tag


def test_runtime_stage_has_no_build_tools_and_no_source_tree() -> None:
    _, runtime = _stages()[-1]
    installs = " ".join(re.findall(r"apt-get install[^\n&|;]*", runtime))
    for tool in BUILD_TOOLS:
        assert not re.search(rf"\b{re.escape(tool)}\b", installs), f"{tool} in the runtime stage"
    assert not re.search(r"^COPY \. ", runtime, re.M), "the runtime stage copies no source tree"
    assert "from=build" in runtime, "the runtime installs what the build stage made"
    assert "pip wheel" not in runtime


def test_runtime_runs_as_a_fixed_non_root_user_with_a_health_check() -> None:
    _, runtime = _stages()[-1]
    (user,) = re.findall(r"^USER (\S+)$", runtime, re.M)
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, "numeric, so runAsNonRoot can verify it"
    k8s = (ROOT / "infra" / "k8s" / "base" / "worker-statefulset.yaml").read_text()
    assert f"runAsUser: {uid}" in k8s
    check = re.search(r"^HEALTHCHECK .*CMD (.*)$", runtime, re.M)
    assert check
    paths = set(re.findall(r"/api/[a-z/]+", check.group(1)))
    assert paths and paths <= set(openapi_spec()["paths"])
    (exposed,) = re.findall(r"^EXPOSE (\d+)$", runtime, re.M)
    env = dict(re.findall(r"(LOOKOUT_\w+)=(\S+)", runtime))
    assert int(exposed) == int(env["LOOKOUT_WEB_PORT"])
    for name in env:
        assert name.removeprefix("LOOKOUT_").lower() in Settings.model_fields, name


def _ignored(path: str, patterns: list[str]) -> bool:
    return any(
        fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.removeprefix("**/")) for p in patterns
    )


@pytest.fixture(scope="module")
def ignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_build_context_keeps_what_the_wheel_needs(ignore_patterns: list[str]) -> None:
    _, build = _stages()[0]
    assert re.search(r"^COPY \. \.$", build, re.M), "copy the tree, filtered by .dockerignore"
    assert "pip wheel" in build
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = [
        d.name
        for d in ROOT.iterdir()
        if d.is_dir()
        and (d / "__init__.py").exists()
        and any(fnmatch.fnmatch(d.name, p) for p in include)
    ]
    assert {"app", "agents", "tables", "sinks"} <= set(packages)
    for needed in [*packages, "pyproject.toml", "README.md", "infra", "infra/migrations"]:
        assert not _ignored(needed, ignore_patterns), f".dockerignore drops {needed}"
    for local in (".git", ".venv", ".lookout", "tests", "app/__pycache__"):
        assert _ignored(local, ignore_patterns), f".dockerignore keeps {local}"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_ci_runs_make_test(workflow: dict[str, Any]) -> None:
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads on: as True
    assert "pull_request" in triggers and "push" in triggers
    jobs = [job for job in workflow["jobs"].values() if "make test" in _runs(job)]
    assert jobs, "no job runs make test"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test:", makefile, re.M)


def test_ci_builds_the_image_from_infra_dockerfile(workflow: dict[str, Any]) -> None:
    builds = [
        step
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("docker/build-push-action@")
    ]
    (build,) = builds
    assert build["with"]["file"] == "infra/Dockerfile"
    assert build["with"]["context"] == "."
    assert build["with"]["push"] is False
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.search(r"@v\d+$", step["uses"]), f"pin {step['uses']} to a version"
