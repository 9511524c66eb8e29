"""Every route, fed requests generated from its own OpenAPI description (schemathesis).

With the regulator admin's token and with none, on each store, every
operation gets a bounded number of generated requests, valid by the schema
and deliberately invalid. Whatever comes back must be no 5xx, a documented
status, the documented media type and a body that matches the documented
schema. Generation is derandomized so that CI runs the same requests every
time; a failure names the operation and the check.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ..conftest import World
from .conftest import ApiClient, bearer

pytestmark = pytest.mark.slow

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Examples per operation and mode: with a token, where requests reach the services,
#: and without one, where nearly all stop at authentication. About 25 s a store.
EXAMPLES = {
    "admin": {GenerationMode.POSITIVE: 4, GenerationMode.NEGATIVE: 3},
    "anonymous": {GenerationMode.POSITIVE: 2, GenerationMode.NEGATIVE: 2},
}


def _fuzz(app: Any, headers: dict[str, str], examples: dict[GenerationMode, int]) -> list[str]:
    """Run every operation's generated cases; one line per operation that failed."""
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    # One client, never entered: entering would run the app's lifespan (signing,
    # sweeping, a checkpoint scheduler), which an in-process test does not want.
    session = asgi.get_client(app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        for mode, count in examples.items():

            @settings(
                max_examples=count,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],  # no shrinking: the bound is the budget
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                case.call_and_validate(session=session, headers=headers, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                continue  # nothing to make invalid: an operation without parameters or body
            except Exception as exc:  # each operation's failure is collected
                first = str(exc).strip().splitlines()[:12]
                failures.append(f"{operation.label} [{mode.value}]: " + "\n    ".join(first))
    return failures


@pytest.mark.parametrize("token", ["regulator.admin", None], ids=["admin", "anonymous"])
def test_every_route_conforms_to_its_openapi(
    client: ApiClient, world: World, token: str | None
) -> None:
    headers = bearer(world, token) if token else {}
    failures = _fuzz(client.app, headers, EXAMPLES["admin" if token else "anonymous"])
    assert not failures, "\n".join(failures)
