"""Property-based fuzzing of the running starter from its own OpenAPI schema.

schemathesis generates requests for every operation the starter documents,
the authenticated ones with a registered user's bearer token, and sends them
over real HTTP to uvicorn on PostgreSQL with a Redis broker and a worker.
A case fails on any 5xx, any response (status, content type, headers, body)
that does not match what the schema declares, and any response slower than
2 s. The run is derandomized (fixed seed) and small by default so CI is
repeatable and fast; ``RISO_FUZZ_EXAMPLES=500`` runs a larger one.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from riso_test_support import stack as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

EXAMPLES = int(os.environ.get("RISO_FUZZ_EXAMPLES", "15"))
MAX_SECONDS = 2.0
PASSWORD = "a long enough password 42"


class Account:
    """A registered user; ``token()`` logs in again when a case revoked the last one."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.email = f"fuzz-{uuid.uuid4().hex[:10]}@example.com"
        with httpx.Client(base_url=base, timeout=10) as client:
            created = client.post(
                "/auth/register", json={"email": self.email, "password": PASSWORD}
            )
            assert created.status_code == 201, created.text
        self._token = self.login()

    def login(self) -> str:
        with httpx.Client(base_url=self.base, timeout=10) as client:
            answer = client.post("/auth/token", data={"username": self.email, "password": PASSWORD})
            assert answer.status_code == 200, answer.text
            return str(answer.json()["access_token"])

    def token(self) -> str:
        with httpx.Client(base_url=self.base, timeout=10) as client:
            me = client.get("/auth/me", headers={"Authorization": f"Bearer {self._token}"})
        if me.status_code == 401:  # the fuzzer logged out, or changed nothing but revoked
            self._token = self.login()
        return self._token


@pytest.fixture(scope="module")
def account(stack: st.Server) -> Account:
    return Account(stack.base)


def test_every_operation_conforms_to_its_schema(stack: st.Server, account: Account) -> None:
    schema = schemathesis.openapi.from_url(f"{stack.base}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15  # the starter's own routes and every feature's
    failures: dict[str, str] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            headers = dict(case.headers or {})
            if not any(k.lower() == "authorization" for k in headers):
                headers["Authorization"] = f"Bearer {account.token()}"
            response = case.call(base_url=stack.base, headers=headers, timeout=10)
            label = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{label}: {response.text[:500]}"
            assert response.elapsed < MAX_SECONDS, f"{label} took {response.elapsed:.2f}s"
            # positive_data_acceptance is left out: a schema-valid request may be
            # refused for business reasons the schema cannot express (a weak
            # password, a wrong current password, an unknown token), with a
            # documented 4xx that the other checks still validate.
            case.validate_response(
                response, headers=headers, excluded_checks=[positive_data_acceptance]
            )

        try:
            check()
        except (
            Exception,
            BaseExceptionGroup,
        ) as exc:  # collect every operation's failure, then report all
            failures[operation.label] = f"{type(exc).__name__}: {str(exc)[:1500]}"
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())


def _with_note_links(spec: dict[str, Any]) -> dict[str, Any]:
    """The starter's schema, plus the OpenAPI links a created note implies.

    The starter declares no links (FastAPI emits none), so schemathesis's state
    machine would have no transitions: these say that the ``id`` of a
    ``POST /notes`` answer feeds ``GET`` and ``DELETE /notes/{note_id}``.
    """
    spec = json.loads(json.dumps(spec))
    # the notes' operations only: with every other operation (riso-auth's admin
    # API among them) a derandomized run spends its few sequences elsewhere
    spec["paths"] = {p: item for p, item in spec["paths"].items() if p.startswith("/notes")}
    item = spec["paths"]["/notes/{note_id}"]
    created = spec["paths"]["/notes"]["post"]["responses"]["201"]
    created["links"] = {
        f"{method.title()}Note": {
            "operationId": item[method]["operationId"],
            "parameters": {"note_id": "$response.body#/id"},
        }
        for method in ("get", "delete")
    }
    return spec


def test_stateful_note_lifecycles_conform_to_the_schema(stack: st.Server, account: Account) -> None:
    """Sequences of calls along the links: create a note, read it, delete it, read again."""
    spec = httpx.get(f"{stack.base}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(_with_note_links(spec))
    schema.config.update(base_url=stack.base)
    machine = schema.as_state_machine()
    seen: set[tuple[str, str, int]] = set()

    class NoteLifecycles(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": {"Authorization": f"Bearer {account.token()}"}, "timeout": 10}

        def validate_response(
            self, response: schemathesis.Response, case: schemathesis.Case, **kwargs: Any
        ) -> None:
            seen.add((case.method, case.path, response.status_code))
            assert response.status_code < 500, response.text[:500]
            assert response.elapsed < MAX_SECONDS, f"{case.method} {case.path} slow"
            case.validate_response(
                response, headers=kwargs["headers"], excluded_checks=[positive_data_acceptance]
            )

    NoteLifecycles.run(
        settings=settings(
            max_examples=max(5, EXAMPLES // 3),
            derandomize=True,
            deadline=None,
            database=None,
            stateful_step_count=6,
            suppress_health_check=list(HealthCheck),
        )
    )
    # the links were followed: a note created in a sequence was read and deleted by id
    # (a random id never belongs to this user: that is a 404)
    assert ("GET", "/notes/{note_id}", 200) in seen, sorted(seen)
    assert ("DELETE", "/notes/{note_id}", 204) in seen, sorted(seen)
