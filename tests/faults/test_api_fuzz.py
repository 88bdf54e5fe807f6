"""The search API fuzzed from its own OpenAPI document (Schemathesis): every generated request,
valid or not by the document, gets an answer the document promises, and never a server error;
a request valid by the document is accepted; one that is not is refused.

Schemathesis' pytest plugin does not run under pytest 9, so each operation is driven here with
its Hypothesis strategy, valid and invalid requests alike, with every check; then the stateful
phase follows the document's links (painting ids from GET /paintings and /random to a painting,
its image, thumbnail, neighbours and a blend; a page's `next` to the following page) as a
Hypothesis state machine. The document is the one served for the test index (60 paintings):
its names and vector lengths are that index's model's (openapi_live.py).

Every check runs, two of them narrowed, each for one thing no document or fuzzer can know:
- "a request valid by the document is accepted", for one parameter: `after`, the listing's
  cursor. It is opaque, and the API refuses with a documented 400 one that it did not give out;
  no schema can say which strings it gave out. So a 400 that says exactly that, for an `after`
  that no answer of this run carried, is not counted as valid data refused. A cursor that an
  answer did carry (the stateful phase follows `next`) must be accepted.
- "a request invalid by the document is refused", for forms with a file: Schemathesis drops a
  negative body that its mutation left valid after all, but cannot validate one holding bytes, so
  a form whose only mutations are in its body is validated here before the check applies.
"""

import time
from collections import Counter
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import FlakyStrategyDefinition
from hypothesis.stateful import run_state_machine_as_test
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tests.search_api.fixtures import ApiServer

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]

EXAMPLES = 80
# The stateful phase: this many scenarios of up to STEPS steps each, in runs of 50. As in
# Schemathesis' own runner, generation only: shrinking replays steps against an API whose answers
# differ from one call to the next (GET /random), which Hypothesis takes for a flaky strategy.
SCENARIOS = 250
STEPS = 10
STATEFUL = settings(
    max_examples=50,
    stateful_step_count=STEPS,
    phases=[Phase.generate],
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
MAX_RESTARTS = 10
NOT_GIVEN_OUT = "after is not a cursor this API gave out"


class Cursors:
    """The cursors the API's answers carried in this run, and the requests sent."""

    given_out: set[str] = set()
    requests = 0

    @classmethod
    def seen(cls, case: Any, response: Any) -> None:
        cls.requests += 1
        if response.status_code == 200 and case.operation.path == "/paintings":
            following = response.json().get("next")
            if isinstance(following, str):
                cls.given_out.add(following)


def valid_data_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schemathesis' `positive_data_acceptance`, but for a made-up cursor's documented 400."""
    made_up = (case.query or {}).get("after")
    if (
        response.status_code == 400
        and made_up is not None
        and made_up not in Cursors.given_out
        and response.json().get("error") == NOT_GIVEN_OUT
    ):
        return None
    result: bool | None = positive_data_acceptance(ctx, response, case)
    return result


def invalid_data_refused(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schemathesis' `negative_data_rejection`, for a form too. Schemathesis drops a "negative"
    body that its mutation left valid, but not one with a file part: it cannot validate bytes. So a
    form is validated here, its files as empty strings (`format: binary` is no constraint)."""
    if (
        isinstance(case.body, dict)
        and (case.media_type or "").startswith("multipart/")
        and _mutated(case) == {ParameterLocation.BODY}
    ):
        body = {k: v if _is_json(v) else "" for k, v in case.body.items()}
        if _form_schema(case).is_valid(body):
            return None
    result: bool | None = negative_data_rejection(ctx, response, case)
    return result


def _mutated(case: Any) -> set[ParameterLocation | None]:
    """Where the negative case's mutations are: the body, the query string, ..."""
    data = case.meta.phase.data if case.meta is not None else None
    if data is None:
        return {None}
    mutations = getattr(data, "mutations", ())
    return {m.parameter_location for m in mutations} or {getattr(data, "parameter_location", None)}


def _is_json(value: object) -> bool:
    return value is None or isinstance(value, bool | int | float | str | list | dict)


def _form_schema(case: Any) -> Any:
    pointer = f"/paths/{case.operation.path.replace('/', '~1')}/{case.operation.method.lower()}"
    pointer += "/requestBody/content/multipart~1form-data/schema"
    registry: Registry[Any] = Registry().with_resource(
        "urn:api", Resource.from_contents(case.operation.schema.raw_schema, DRAFT202012)
    )
    return Draft202012Validator({"$ref": f"urn:api#{pointer}"}, registry=registry)


CHECKS: dict[str, Any] = {
    "excluded_checks": [positive_data_acceptance, negative_data_rejection],
    "additional_checks": [valid_data_accepted, invalid_data_refused],
}


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
            response = case.call()
            Cursors.seen(case, response)
            case.validate_response(response, **CHECKS)
        except (Exception, BaseExceptionGroup) as e:  # a FailureGroup of its checks
            failures.append(f"{operation.label} ({mode.value}): {e}")
            raise

    try:
        run()
    except (Exception, BaseExceptionGroup):  # noqa: BLE001 - kept in `failures`, shrunk
        pass
    return failures[-1] if failures else None


def _document(api: ApiServer) -> "schemathesis.BaseSchema":
    document = httpx.get(f"{api.url}/openapi.json", timeout=10).json()
    # The document served for the test index, not the fallback without it.
    vector_query = document["components"]["schemas"]["VectorQuery"]
    assert {b["properties"]["vector"]["maxItems"] for b in vector_query["oneOf"]} == {960, 112, 256}
    return schemathesis.openapi.from_url(f"{api.url}/openapi.json")


def test_every_answer_is_one_the_document_promises(api: ApiServer) -> None:
    schema = _document(api)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the document does not parse: {result}"
        operations.append(result.ok())
    assert len(operations) >= 10, [o.label for o in operations]
    started, sent = time.monotonic(), Cursors.requests
    found: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failure = _fuzz(operation, mode)
            if failure is not None:
                found.append(failure)
    print(
        f"\nper operation: {len(operations)} operations, {Cursors.requests - sent} requests "
        f"in {time.monotonic() - started:.1f} s, {len(found)} failing"
    )
    assert not found, "\n\n".join(found)


def test_following_the_document_s_links_keeps_its_word(
    api: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = _document(api)
    # A link that gives a whole body (GET /paintings/{id} -> a blend by it) names no media type;
    # Schemathesis picks one only when the operation takes one, and the blend also takes a form.
    # The link's body is JSON: so be it.
    chooses = APIOperation._get_default_media_type

    def json_first(operation: "APIOperation[Any, Any, Any, Any]") -> str:
        taken = operation.get_request_payload_content_types()
        return "application/json" if "application/json" in taken else chooses(operation)

    monkeypatch.setattr(APIOperation, "_get_default_media_type", json_first)
    followed: list[tuple[str, int]] = []
    failures: list[str] = []
    scenarios = 0

    class Scenario(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            nonlocal scenarios
            scenarios += 1

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            Cursors.seen(case, response)
            followed.append((case.operation.label, response.status_code))

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            try:
                case.validate_response(
                    response, transport_kwargs=kwargs or None, recorder=self.recorder, **CHECKS
                )
            except (Exception, BaseExceptionGroup) as e:
                failures.append(f"{case.operation.label} (stateful): {e}")
                raise

    started, restarts = time.monotonic(), 0
    while scenarios < SCENARIOS and not failures:
        try:
            run_state_machine_as_test(Scenario, settings=STATEFUL)
        except FlakyStrategyDefinition:
            # Hypothesis replayed a prefix and the API answered it otherwise (GET /random's sample,
            # a page's `next`): its rules saw other bundles. Schemathesis' own runner starts again
            # too; a failed check is in `failures` whatever Hypothesis makes of it.
            restarts += 1
            assert restarts <= MAX_RESTARTS, f"{restarts} restarts after {scenarios} scenarios"
        except (Exception, BaseExceptionGroup):  # noqa: BLE001 - a failed check, kept below
            if not failures:
                raise
    answered = Counter(followed)
    print(
        f"\nstateful: {scenarios} scenarios, {len(followed)} requests in "
        f"{time.monotonic() - started:.1f} s ({restarts} restarts), "
        f"{len(Cursors.given_out)} cursors given out; {sorted(answered.items())}"
    )
    assert not failures, "\n\n".join(failures)
    # The links were followed: paintings found by their ids, not only made-up ids refused.
    assert answered["GET /paintings/{painting_id}", 200] > 0, answered
    assert answered["GET /similar/{painting_id}", 200] > 0, answered
