"""Static checks of deploy/: the Dockerfile, compose.yaml, Kubernetes, Cloud Run, ECS and Fly.

No container engine runs here, so the files are parsed and checked against the
code they deploy:

- every command they run exists: ``riso`` is riso-core's console script, its
  sub-commands (``riso serve``, ``riso db upgrade``, ``riso tasks worker``) and
  their options parse with the real click groups, ``uvicorn starter.main:app``
  names the starter's app, and each command's distribution is in the starter's
  locked runtime dependencies (what the image installs);
- the probe paths are riso-health's routes (``/health``, ``/ready``, ``/startup``);
- every environment variable they set is a field of a feature's settings model
  (``RISO_<FEATURE>_<FIELD>``, or its documented alias such as ``DATABASE_URL``),
  a riso-core variable, or a standard ``OTEL_*`` one; and the values they set
  validate against those models;
- the image is multi-stage, installs only the starter's locked runtime
  dependencies with uv, and runs as a non-root user that the manifests match.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from pydantic import AliasChoices, ValidationError
from pydantic_settings import BaseSettings

import riso
from riso import _cli as riso_cli
from riso._settings import CoreSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
IMAGE = "riso-starter"

# --- what the code declares ---------------------------------------------------------


def _pyproject(folder: Path) -> dict[str, Any]:
    return tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))


STARTER = _pyproject(ROOT / "starter")["project"]["name"]
WORKSPACE = {
    canonicalize_name(_pyproject(p.parent)["project"]["name"]): p.parent
    for p in (ROOT / "packages").glob("*/pyproject.toml")
}


@cache
def features() -> dict[str, tuple[str, riso.Feature]]:
    """Feature name -> (distribution, Feature) for every workspace feature package."""
    out = {}
    for ep in entry_points(group="riso.features"):
        dist = canonicalize_name(ep.dist.name) if ep.dist else ""
        if dist in WORKSPACE:
            feature = ep.load()
            assert isinstance(feature, riso.Feature), f"{ep.value} is not a riso.Feature"
            out[ep.name] = (dist, feature)
    return out


@cache
def runtime_closure() -> frozenset[str]:
    """Every distribution the image installs: the starter's locked runtime dependencies."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    packages = {p["name"]: p for p in lock["package"]}
    seen: set[str] = set()
    todo: list[tuple[str, tuple[str, ...]]] = [(canonicalize_name(STARTER), image_extras())]
    while todo:
        name, extras = todo.pop()
        key = f"{name}[{','.join(extras)}]"
        if key in seen:
            continue
        seen.add(key)
        entry = packages[name]
        deps = list(entry.get("dependencies", []))
        for extra in extras:
            deps.extend(entry.get("optional-dependencies", {}).get(extra, []))
        for dep in deps:
            todo.append((dep["name"], tuple(dep.get("extra", ()))))
    return frozenset(k.split("[", 1)[0] for k in seen)


def image_sync_flags() -> list[str]:
    """The arguments of the Dockerfile's one ``uv sync``."""
    syncs = [a for _, ins, a in dockerfile() if ins == "RUN" and "uv sync" in a]
    assert len(syncs) == 1, "the image installs with exactly one uv sync"
    return shlex.split(syncs[0].split("uv sync", 1)[1])


def image_extras() -> tuple[str, ...]:
    flags = image_sync_flags()
    return tuple(flags[i + 1] for i, flag in enumerate(flags) if flag == "--extra")


def settings_models() -> list[type[BaseSettings]]:
    models: list[type[BaseSettings]] = [CoreSettings]
    models += [f.settings for _, f in features().values() if f.settings is not None]
    return models


def variable_names(model: type[BaseSettings]) -> set[str]:
    """The environment variables a settings model reads (prefix + field, or its aliases)."""
    prefix = str(model.model_config.get("env_prefix", ""))
    names = set()
    for field, info in model.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {str(c).upper() for c in alias.choices if isinstance(c, str)}
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{prefix}{field}".upper())
    return names


#: set by the image for Python itself, not read by riso
IMAGE_VARIABLES = {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}
#: standard OpenTelemetry SDK variables riso-obs leaves to the SDK (documented)
COMMON_PREFIXES = ("OTEL_",)


def unknown_variables(names: set[str]) -> list[str]:
    known = set().union(*(variable_names(m) for m in settings_models()))
    return sorted(n for n in names if n not in known and not n.startswith(COMMON_PREFIXES))


def settings_problems(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Validate every settings model against ``env``; the messages of what fails."""
    problems = []
    with monkeypatch.context() as patch:
        patch.chdir(ROOT / "deploy")  # no stray .env file
        for name, value in env.items():
            patch.setenv(name, value)
        for model in settings_models():
            try:
                model()
            except ValidationError as exc:
                problems += [f"{model.__name__}: {e['loc']}: {e['msg']}" for e in exc.errors()]
    return problems


# --- the deploy files ---------------------------------------------------------------


def dockerfile() -> list[tuple[int, str, str]]:
    """(stage index, INSTRUCTION, arguments) with continuation lines joined."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    logical, buffer = [], ""
    for line in text.splitlines():
        if not buffer and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            buffer += line.rstrip()[:-1] + " "
            continue
        logical.append(buffer + line)
        buffer = ""
    out, stage = [], -1
    for line in logical:
        instruction, _, args = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stage += 1
        out.append((stage, instruction.upper(), args.strip()))
    return out


def docker_env(args: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in shlex.split(args))


def docker_exec_form(args: str) -> list[str]:
    value = yaml.safe_load(args)  # a JSON array is YAML
    assert isinstance(value, list), f"use the exec (JSON) form: {args}"
    return [str(v) for v in value]


def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def riso_services() -> dict[str, dict[str, Any]]:
    """The compose services that run the starter image."""
    return {
        name: service
        for name, service in compose()["services"].items()
        if "build" in service or IMAGE in str(service.get("image", ""))
    }


def k8s_documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return docs


def k8s(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in k8s_documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name} in deploy/k8s"
    return found[0]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def starter_containers() -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in k8s_documents():
        if doc["kind"] in {"Deployment", "Job", "StatefulSet", "CronJob"}:
            for container in pod_spec(doc)["containers"]:
                if container["image"].split(":")[0].endswith(IMAGE):
                    yield f"{doc['kind']}/{doc['metadata']['name']}", container


def cloud_run_service() -> dict[str, Any]:
    (service,) = [
        d
        for d in yaml.safe_load_all(
            (DEPLOY / "cloud-run" / "service.yaml").read_text(encoding="utf-8")
        )
        if d
    ]
    assert isinstance(service, dict)
    return service


def cloud_run_container() -> dict[str, Any]:
    (container,) = cloud_run_service()["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def ecs_task() -> dict[str, Any]:
    data = json.loads((DEPLOY / "aws" / "task-definition.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def ecs_container(name: str) -> dict[str, Any]:
    (container,) = [c for c in ecs_task()["containerDefinitions"] if c["name"] == name]
    assert isinstance(container, dict)
    return container


def fly_config() -> dict[str, Any]:
    return tomllib.loads((DEPLOY / "fly.toml").read_text(encoding="utf-8"))


def image_cmd() -> list[str]:
    cmds = [args for stage, ins, args in dockerfile() if ins == "CMD"]
    return docker_exec_form(cmds[-1])


def expose_port() -> int:
    (port,) = [args for _, ins, args in dockerfile() if ins == "EXPOSE"]
    return int(port.split("/")[0])


def all_commands() -> list[tuple[str, list[str]]]:
    """Every command the deploy files run in the starter image, with where it is."""
    out = [("Dockerfile CMD", image_cmd())]
    for name, service in riso_services().items():
        command = service.get("command")
        if command is not None:
            argv = shlex.split(command) if isinstance(command, str) else [str(c) for c in command]
            out.append((f"compose {name}", argv))
    for where, container in starter_containers():
        if "command" in container:
            out.append((where, [*container["command"], *container.get("args", [])]))
    out.append(("cloud-run app", [*cloud_run_container()["command"]]))
    out += [(f"ecs {c['name']}", c["command"]) for c in ecs_task()["containerDefinitions"]]
    fly = fly_config()
    out += [(f"fly {name}", shlex.split(cmd)) for name, cmd in fly["processes"].items()]
    out.append(("fly release_command", shlex.split(fly["deploy"]["release_command"])))
    return out


# --- commands ---------------------------------------------------------------------


def command_problems(argv: list[str]) -> list[str]:
    """Why ``argv`` would not run in the starter image (empty: it would)."""
    program, args = argv[0], argv[1:]
    closure = runtime_closure()
    if program == "riso":
        scripts = _pyproject(WORKSPACE["riso-core"])["project"].get("scripts", {})
        if scripts.get("riso") != "riso._cli:main":
            return ["riso-core does not declare the console script riso = riso._cli:main"]
        group: click.Group = riso_cli.cli
        distribution = "riso-core"
        if args and args[0] in {f.cli.name for _, f in features().values() if f.cli}:
            distribution, feature = next(
                (d, f) for d, f in features().values() if f.cli and f.cli.name == args[0]
            )
            assert feature.cli is not None
            group, args = feature.cli, args[1:]
        if distribution not in closure:
            return [f"{distribution} (which provides riso {argv[1]}) is not in the starter image"]
        if not args or args[0] not in group.commands:
            known = ", ".join(sorted(group.commands))
            return [f"{shlex.join(argv)}: no such command (known: {known})"]
        command = group.commands[args[0]]
        try:
            command.make_context(args[0], list(args[1:]))
        except click.ClickException as exc:
            return [f"{shlex.join(argv)}: {exc.format_message()}"]
        return []
    if program == "uvicorn":
        if "uvicorn" not in closure:
            return ["uvicorn is not in the starter's runtime dependencies"]
        targets = [a for a in args if ":" in a and not a.startswith("-")]
        if len(targets) != 1:
            return [f"{shlex.join(argv)}: expected one module:attr"]
        module, attr = targets[0].split(":")
        path = ROOT / "starter" / "src" / Path(*module.split(".")).with_suffix(".py")
        if not path.is_file():
            return [f"{targets[0]}: no module {path.relative_to(ROOT)}"]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assigned = {
            t.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for t in node.targets
            if isinstance(t, ast.Name)
        }
        return [] if attr in assigned else [f"{targets[0]}: {module} defines no {attr}"]
    if program == "python":
        return []
    return [f"{program}: not a command the starter image provides"]


@pytest.mark.parametrize(
    ("where", "argv"), all_commands(), ids=[f"{w}: {' '.join(a[:3])}" for w, a in all_commands()]
)
def test_every_command_exists_in_the_image(where: str, argv: list[str]) -> None:
    assert command_problems(argv) == []


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["riso", "db", "upgrade"], None),
        (["riso", "tasks", "worker", "--concurrency", "2"], None),
        (["riso", "check", "--deploy"], None),
        (["riso", "serve", "--host", "0.0.0.0", "--port", "8000"], None),
        (["riso", "serve", "--port", "http"], "is not a valid integer"),
        (["uvicorn", "starter.main:app", "--port", "8000"], None),
        (["riso", "db", "migrate"], "no such command"),
        (["riso", "dbx", "upgrade"], "no such command"),
        (["riso", "tasks", "worker", "--concurrency", "zero"], "is not a valid integer"),
        (["riso", "tasks", "worker", "--no-such-flag"], "No such option"),
        (["uvicorn", "starter.main:application"], "defines no application"),
        (["uvicorn", "starter.nope:app"], "no module"),
        (["gunicorn", "starter.main:app"], "not a command the starter image provides"),
        (["celery", "worker"], "not a command the starter image provides"),
    ],
)
def test_command_check_catches_mistakes(argv: list[str], problem: str | None) -> None:
    problems = command_problems(argv)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1
        assert problem in problems[0]


def test_migrations_and_worker_are_deployed() -> None:
    commands = {shlex.join(argv[:3]) for _, argv in all_commands()}
    assert "riso db upgrade" in commands
    assert "riso tasks worker" in commands
    job = k8s("Job", "riso-migrate")
    (container,) = pod_spec(job)["containers"]
    assert container["command"] == ["riso", "db", "upgrade"]
    assert pod_spec(job)["restartPolicy"] == "Never"
    services = compose()["services"]
    assert services["migrate"]["command"] == ["riso", "db", "upgrade"]
    for name in ("app", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert {"postgres", "redis", "app", "worker", "migrate"} <= set(services)


# --- probes ---------------------------------------------------------------------------


def health_paths() -> set[str]:
    _, feature = features()["health"]
    return {
        route.path
        for router in feature.routers
        for route in router.routes
        if "GET" in getattr(route, "methods", set())
    }


def test_probes_are_riso_health_routes() -> None:
    paths = health_paths()
    assert {"/health", "/ready"} <= paths  # the contract
    assert "riso-health" in runtime_closure(), "the image must serve the probes"
    deployment = k8s("Deployment", "riso-app")
    (container,) = pod_spec(deployment)["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    expected = {"livenessProbe": "/health", "readinessProbe": "/ready", "startupProbe": "/startup"}
    for probe, path in expected.items():
        http = container[probe]["httpGet"]
        assert http["path"] == path
        assert path in paths
        assert ports[http["port"]] == expose_port()
    argv = container["command"]
    assert argv[argv.index("--port") + 1] == str(expose_port())
    service = k8s("Service", "riso-app")
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
    assert all(p["targetPort"] in ports for p in service["spec"]["ports"])


def test_image_healthcheck_hits_health_with_urllib() -> None:
    (args,) = [a for _, ins, a in dockerfile() if ins == "HEALTHCHECK"]
    argv = docker_exec_form(args.split(" CMD ", 1)[1])
    assert argv[:2] == ["python", "-c"]
    code = argv[2]
    compile(code, "<healthcheck>", "exec")  # valid Python
    assert "urllib.request" in code
    url = re.search(r"http://127\.0\.0\.1:(\d+)(/\S*?)['\"]", code)
    assert url is not None
    assert int(url.group(1)) == expose_port()
    assert url.group(2) == "/health"
    assert "/health" in health_paths()
    cmd = image_cmd()
    assert cmd[:2] == ["riso", "serve"]
    assert cmd[cmd.index("--port") + 1] == str(expose_port())


def test_every_web_server_is_riso_serve_with_its_server_extra() -> None:
    """The image, compose and Kubernetes serve with riso's limits (uvicorn + httptools)."""
    servers = [(w, a) for w, a in all_commands() if a[:2] == ["riso", "serve"]]
    wheres = {w for w, _ in servers}
    assert {"Dockerfile CMD", "compose app", "Deployment/riso-app"} <= wheres
    assert not [w for w, a in all_commands() if a[0] == "uvicorn"], "serve through riso serve"
    assert {"uvicorn", "httptools"} <= runtime_closure(), "the image needs riso-core[server]"
    env = dockerfile_environment()
    assert env["RISO_APP"] == "starter.main:app"  # riso serve finds the app from it
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "riso serve --host $(HOST) --port $(PORT)" in makefile
    assert re.search(r"^HOST \?= 127\.0\.0\.1$", makefile, re.M)
    assert re.search(r"^PORT \?= 8000$", makefile, re.M)


# --- environment variables -----------------------------------------------------------


def compose_environment() -> dict[str, str]:
    env: dict[str, str] = {}
    for service in riso_services().values():
        raw = service.get("environment", {})
        if isinstance(raw, list):
            raw = dict(item.split("=", 1) for item in raw)
        env |= {str(k): str(v) for k, v in raw.items()}
    return env


def k8s_environment() -> dict[str, str]:
    env: dict[str, str] = {}
    for _, container in starter_containers():
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                env |= k8s("ConfigMap", source["configMapRef"]["name"])["data"]
            if "secretRef" in source:
                env |= k8s("Secret", source["secretRef"]["name"])["stringData"]
        env |= {e["name"]: str(e.get("value", "")) for e in container.get("env", [])}
    return env


def dockerfile_environment(stage: str = "runtime") -> dict[str, str]:
    env: dict[str, str] = {}
    stages = [a.split()[-1] for _, ins, a in dockerfile() if ins == "FROM"]
    for index, ins, args in dockerfile():
        if ins == "ENV" and stages[index] == stage:
            env |= docker_env(args)
    return env


def _interpolate(value: str) -> str:
    """Compose ``${VAR:?msg}`` / ``${VAR:-default}`` with a realistic stand-in."""
    return re.sub(r"\$\{([A-Z_]+)[^}]*\}", lambda m: "s3cret-" + "x" * 40, value)


@pytest.mark.parametrize(
    ("source", "environment"),
    [
        ("Dockerfile", dockerfile_environment),
        ("compose.yaml", compose_environment),
        ("k8s", k8s_environment),
    ],
)
def test_variables_are_settings_fields(source: str, environment: Any) -> None:
    names = set(environment()) - IMAGE_VARIABLES
    assert names, f"{source} sets no riso variable"
    assert unknown_variables(names) == []


@pytest.mark.parametrize(
    ("names", "unknown"),
    [
        ({"RISO_DB_URL", "DATABASE_URL", "RISO_TASKS_BROKER_URL", "CELERY_BROKER_URL"}, []),
        ({"RISO_ENV", "RISO_APP", "RISO_DISABLE", "OTEL_SERVICE_NAME"}, []),
        ({"RISO_AUTH_SECRET_KEY", "RISO_OBS_LOG_FORMAT", "RISO_HEALTH_TIMEOUT"}, []),
        ({"RISO_DB_URI"}, ["RISO_DB_URI"]),
        ({"RISO_TASK_BROKER_URL"}, ["RISO_TASK_BROKER_URL"]),
        ({"RISO_AUTH_SECRET"}, ["RISO_AUTH_SECRET"]),
        ({"REDIS_URL", "RISO_ENVIRONMENT"}, ["REDIS_URL", "RISO_ENVIRONMENT"]),
    ],
)
def test_variable_check_catches_typos(names: set[str], unknown: list[str]) -> None:
    assert unknown_variables(names) == unknown


def test_compose_settings_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: _interpolate(v) for k, v in compose_environment().items()}
    assert env["RISO_ENV"] == "production"
    assert settings_problems(env, monkeypatch) == []


def test_k8s_settings_validate_and_placeholder_secret_is_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = k8s_environment()
    assert env["RISO_ENV"] == "production"
    # the committed Secret holds placeholders: deploying them must fail loudly
    problems = settings_problems(env, monkeypatch)
    assert problems
    assert all("secret_key" in p for p in problems), problems
    real = env | {"RISO_AUTH_SECRET_KEY": "s3cret-" + "x" * 40}
    assert settings_problems(real, monkeypatch) == []


def test_every_envfrom_reference_and_resource_exists() -> None:
    for where, container in starter_containers():
        for source in container.get("envFrom", []):
            kind, ref = (
                ("ConfigMap", "configMapRef")
                if "configMapRef" in source
                else ("Secret", "secretRef")
            )
            k8s(kind, source[ref]["name"])  # exactly one
        assert container["image"] == IMAGE, f"{where}: kustomization sets the image tag"
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


# --- the image -------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_with_locked_runtime_dependencies_only() -> None:
    instructions = dockerfile()
    stages = [a.split()[-1] for _, ins, a in instructions if ins == "FROM"]
    assert stages == ["builder", "runtime"]
    uv_copies = [a for _, ins, a in instructions if ins == "COPY" and "astral-sh/uv" in a]
    assert len(uv_copies) == 1
    source = re.search(r"--from=ghcr\.io/astral-sh/uv:(\S+)", uv_copies[0])
    assert source is not None, "copy uv from the official image"
    pinned = source.group(1)
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), "pin uv to an exact version"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    uv_range = re.search(r"UV_VERSION := uv(\S+)", makefile)
    assert uv_range is not None
    assert SpecifierSet(uv_range.group(1)).contains(pinned), "the same uv as make sync"
    flags = image_sync_flags()
    assert {"--locked", "--no-dev", "--no-editable"} <= set(flags)
    assert flags[flags.index("--package") + 1] == STARTER
    runtime = [(ins, a) for s, ins, a in instructions if s == len(stages) - 1]
    copies = [a for ins, a in runtime if ins in {"COPY", "ADD"}]
    assert copies == ["--from=builder /app/.venv /app/.venv"], "only the venv reaches runtime"
    assert not any("uv" in a.split() for ins, a in runtime if ins == "RUN")


def test_runtime_user_is_not_root_and_matches_the_manifests() -> None:
    stages = [a.split()[-1] for _, ins, a in dockerfile() if ins == "FROM"]
    users = [a for s, ins, a in dockerfile() if ins == "USER" and stages[s] == "runtime"]
    assert users, "the runtime stage must switch to a non-root user"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "a numeric uid, so Kubernetes can verify runAsNonRoot"
    assert int(uid) != 0
    for doc in k8s_documents():
        if doc["kind"] in {"Deployment", "Job"}:
            security = pod_spec(doc)["securityContext"]
            assert security["runAsNonRoot"] is True
            assert security["runAsUser"] == int(uid)
            for container in pod_spec(doc)["containers"]:
                assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_image_has_the_drivers_its_configuration_needs() -> None:
    """postgresql:// needs psycopg and redis:// needs redis inside the image."""
    closure = runtime_closure()
    urls = [
        v for k, v in {**compose_environment(), **k8s_environment()}.items() if k.endswith("_URL")
    ]
    drivers = {"postgresql": "psycopg", "redis": "redis", "mysql": "pymysql"}
    needed = {drivers[u.split("://")[0]] for u in urls if u.split("://")[0] in drivers}
    assert needed >= {"psycopg", "redis"}
    assert sorted(needed - closure) == []


# --- Cloud Run, ECS, Fly: settings, production limits, probes, migrations ---------------

#: what a secret reference (Secret Manager, Secrets Manager, fly secrets) resolves to here
SECRET_STAND_IN = "s3cret-" + "x" * 40
SECRET_STAND_INS = {"RISO_DB_URL": f"postgresql://riso:{SECRET_STAND_IN}@10.0.0.5:5432/riso"}


def secret(name: str) -> str:
    return SECRET_STAND_INS.get(name, SECRET_STAND_IN)


#: the production limits every target sets explicitly (riso-core CoreSettings)
LIMIT_VARIABLES = {
    "RISO_MAX_BODY_SIZE",
    "RISO_LIMIT_CONCURRENCY",
    "RISO_HEAD_TIMEOUT",
    "RISO_BODY_TIMEOUT",
    "RISO_KEEP_ALIVE_TIMEOUT",
    "RISO_TRUSTED_PROXIES",
}


def cloud_run_environment() -> dict[str, str]:
    return {
        e["name"]: secret(e["name"]) if "valueFrom" in e else str(e["value"])
        for e in cloud_run_container()["env"]
    }


def ecs_environment(name: str = "app") -> dict[str, str]:
    container = ecs_container(name)
    env = {e["name"]: e["value"] for e in container.get("environment", [])}
    return env | {s["name"]: secret(s["name"]) for s in container.get("secrets", [])}


def fly_secret_names() -> list[str]:
    """The names the file tells the operator to set with ``fly secrets set``."""
    text = (DEPLOY / "fly.toml").read_text(encoding="utf-8")
    (line,) = [line for line in text.splitlines() if "fly secrets set" in line]
    return re.findall(r"\b([A-Z][A-Z0-9_]+)=", line)


def fly_environment() -> dict[str, str]:
    env = {k: str(v) for k, v in fly_config()["env"].items()}
    return env | {name: secret(name) for name in fly_secret_names()}


TARGETS = {
    "cloud-run": cloud_run_environment,
    "ecs app": ecs_environment,
    "ecs migrate": lambda: ecs_environment("migrate"),
    "fly": fly_environment,
}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_target_variables_are_settings_fields_and_validate(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = TARGETS[target]()
    assert env["RISO_ENV"] == "production"
    assert unknown_variables(set(env)) == []
    assert settings_problems(env, monkeypatch) == []
    assert {"RISO_DB_URL", "RISO_AUTH_SECRET_KEY"} <= set(env), "the secrets come from the store"


@pytest.mark.parametrize(
    ("target", "platform_concurrency"),
    [
        (
            "cloud-run",
            lambda: cloud_run_service()["spec"]["template"]["spec"]["containerConcurrency"],
        ),
        ("fly", lambda: fly_config()["http_service"]["concurrency"]["hard_limit"]),
        ("ecs app", lambda: 0),
    ],
)
def test_every_web_target_sets_the_production_limits(
    target: str, platform_concurrency: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = TARGETS[target]()
    assert set(env) >= LIMIT_VARIABLES, sorted(LIMIT_VARIABLES - set(env))
    with monkeypatch.context() as patch:
        patch.chdir(DEPLOY)
        for name, value in env.items():
            patch.setenv(name, value)
        core = CoreSettings()
    limits = core.server_limits
    assert core.max_body_size > 0
    assert 0 < limits.head_timeout <= limits.body_timeout
    assert core.trusted_proxy_list, "behind the platform's proxy the client address is forwarded"
    # the platform balances and queues first: riso's 503 is the backstop
    assert limits.limit_concurrency > platform_concurrency()


def test_ecs_keep_alive_outlives_the_load_balancers_idle_timeout() -> None:
    alb_idle_timeout = 60  # AWS's default idle_timeout.timeout_seconds
    assert float(ecs_environment()["RISO_KEEP_ALIVE_TIMEOUT"]) > alb_idle_timeout


def test_cloud_run_probes_and_port() -> None:
    container = cloud_run_container()
    (port,) = container["ports"]
    assert port["containerPort"] == expose_port()
    expected = {"startupProbe": "/startup", "livenessProbe": "/health", "readinessProbe": "/ready"}
    for probe, path in expected.items():
        assert container[probe]["httpGet"] == {"path": path, "port": expose_port()}
        assert path in health_paths()
    argv = container["command"]
    assert argv[argv.index("--port") + 1] == str(expose_port())
    spec = cloud_run_service()["spec"]["template"]["spec"]
    assert spec["timeoutSeconds"] > CoreSettings().body_timeout


def test_ecs_probes_migrations_and_user() -> None:
    app = ecs_container("app")
    (mapping,) = app["portMappings"]
    assert mapping["containerPort"] == expose_port()
    check = app["healthCheck"]["command"]
    assert check[0] == "CMD"
    compile(check[3], "<healthCheck>", "exec")
    assert f"http://127.0.0.1:{expose_port()}/health'" in check[3]
    assert app["healthCheck"]["startPeriod"] > 0  # the startup allowance
    group = json.loads((DEPLOY / "aws" / "target-group.json").read_text(encoding="utf-8"))
    assert group["HealthCheckPath"] == "/ready"  # readiness, at the load balancer
    assert group["Port"] == expose_port()
    assert {"/health", "/ready"} <= health_paths()
    migrate = ecs_container("migrate")
    assert migrate["command"] == ["riso", "db", "upgrade"]
    assert migrate["essential"] is False
    assert app["dependsOn"] == [{"containerName": "migrate", "condition": "SUCCESS"}]
    for container in (app, migrate):
        assert container["user"] == "10001:10001"
        assert container["readonlyRootFilesystem"] is True


def test_fly_probes_migrations_and_processes() -> None:
    fly = fly_config()
    service = fly["http_service"]
    assert service["internal_port"] == expose_port()
    assert [c["path"] for c in service["checks"]] == ["/ready"]  # the proxy routes on it
    machine_checks = {c["path"]: c for c in fly["checks"].values()}
    assert set(machine_checks) == {"/health", "/startup"}
    assert all(c["port"] == expose_port() for c in machine_checks.values())
    assert {"/health", "/ready", "/startup"} <= health_paths()
    assert fly["deploy"]["release_command"] == "riso db upgrade"
    assert shlex.split(fly["processes"]["app"])[:2] == ["riso", "serve"]
    assert fly["processes"]["worker"] == "riso tasks worker"
    assert set(fly_secret_names()) == {"RISO_DB_URL", "RISO_AUTH_SECRET_KEY"}
