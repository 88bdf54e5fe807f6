"""The search API fuzzed from its own OpenAPI document (Schemathesis): every generated request,
valid or not by the document, gets an answer the document promises, and never a server error.

Schemathesis' pytest plugin does not run under pytest 9, so each operation is driven here with
its Hypothesis strategy, valid and invalid requests alike, and every failure is collected. One
check is left out: "a request valid by the document is accepted" (ST202). The API refuses, with a
400 that names the valid values, inputs no static document can describe: a cursor it did not give
out, a representation the index behind the alias does not hold (known at run time, listed by
`/representations`), a vector of the wrong length for its representation.
"""

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.search_api.fixtures import ApiServer

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]

EXAMPLES = 30


def _fuzz(
    operation: "schemathesis.APIOperation[Any, Any, Any, Any]", mode: GenerationMode
) -> str | None:
    """The first failure of `operation` under `mode`, described; None when it keeps its word."""
    failures: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: "schemathesis.Case[Any]") -> None:
        try:
            case.call_and_validate(excluded_checks=[positive_data_acceptance])
        except (Exception, BaseExceptionGroup) as e:  # a FailureGroup of its checks
            failures.append(f"{operation.label} ({mode.value}): {e}")
            raise

    try:
        run()
    except (Exception, BaseExceptionGroup):  # noqa: BLE001 - kept in `failures`, shrunk
        pass
    return failures[-1] if failures else None


def test_every_answer_is_one_the_document_promises(api: ApiServer) -> None:
    document = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    operations = []
    for result in document.get_all_operations():
        assert isinstance(result, Ok), f"the document does not parse: {result}"
        operations.append(result.ok())
    assert len(operations) >= 10, [o.label for o in operations]
    found: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failure = _fuzz(operation, mode)
            if failure is not None:
                found.append(failure)
    assert not found, "\n\n".join(found)
