"""Schemathesis fuzzes every operation of the committed OpenAPI document against the app.

On both backends, over the demo data, as the admin: no answer is a 5xx (a ``min_position``
beyond the log is a 422 at once, and a reachable one is reached well within the read wait
given here, so not even a 503 is excused), every answer conforms
to the document (status code, content type, headers, body), schema-invalid input is
refused, and every 4xx is ``application/problem+json`` with ``type``, ``title``, ``status``
and ``detail``. Two runs per operation and backend: the cases as Schemathesis generates
them (document examples, coverage cases, fuzzing), and fuzzing steered at demo facts,
demo actors and existing subscriptions, so that successful answers get checked too.
A third run is the stateful phase: workflows that follow the document's links (record a
fact, then read, correct and retract it; subscribe, then change, replay and delete the
subscription), which must reach every operation.

Budget: ``TIMELINE_FUZZ_EXAMPLES`` generated cases per operation in the fuzzing phase
(default 25: with the steered run, 50 fuzzed cases per operation), plus the examples and
coverage cases, which no budget cuts. ``TIMELINE_FUZZ_SCENARIOS`` stateful scenarios per
backend (default 30, of at most ``TIMELINE_FUZZ_STEPS`` calls each, default 12). These
defaults keep every phase on every operation within the suite's time; the exploratory run
with a large budget is one command, in docs/fuzzing.md.
Generation is derandomized with a fixed seed, so a run repeats exactly;
``TIMELINE_FUZZ_SEED`` picks another one. ``pytest -s`` prints the cases sent.

Nothing leaves the machine: ``/v1/stream`` (an endless SSE stream) is left out, the webhook
dispatcher is stopped before fuzzing (and its HTTP client can reach nothing), and the
subscription URL guard resolves host names offline (IP literals and ``localhost`` only),
so a generated URL neither triggers a DNS query nor a delivery.
"""

from __future__ import annotations

import os
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky

schemathesis = pytest.importorskip("schemathesis", minversion="4.0")

from service.bootstrap import Container  # noqa: E402
from service.demo import demo_data  # noqa: E402
from service.webhooks import guard  # noqa: E402
from tests.conftest import ADMIN  # noqa: E402
from tests.support.reports import report  # noqa: E402
from tests.support.subscriptions import FakeResolver  # noqa: E402

OPENAPI = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
EXAMPLES = int(os.environ.get("TIMELINE_FUZZ_EXAMPLES", "25"))
SEED = int(os.environ.get("TIMELINE_FUZZ_SEED", "20200103"))
SCENARIOS = int(os.environ.get("TIMELINE_FUZZ_SCENARIOS", "30"))
STEPS = int(os.environ.get("TIMELINE_FUZZ_STEPS", "12"))
# A reachable `min_position` is reached in milliseconds: a 503 within this wait is a bug.
READ_WAIT = 10.0
# Where steered subscriptions point: loopback, allowed for the test, never called.
HOOK = "http://127.0.0.1:9/fuzz-hook"
PROBLEM_FIELDS = {"type": str, "title": str, "status": int, "detail": str}

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "unsupported_method",
    "allow_header_conformance",
    "problem_json_on_4xx",
)

# The answers that refuse schema-invalid input: the library's list, and 413.
NEGATIVE_REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]

# Cases sent, per backend and operation: the summary printed after each backend's run.
SENT: dict[str, Counter[str]] = {}


@schemathesis.check
def problem_json_on_4xx(ctx: Any, response: Any, case: Any) -> bool | None:
    """docs/api.md: errors are application/problem+json with type, title, status and detail."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.split(";")[0].strip().lower() == "application/problem+json", (
        f"a {response.status_code} answered with Content-Type {content_type or '(none)'}, not application/problem+json"
    )
    try:
        body = response.json()
    except ValueError:
        body = None
    assert isinstance(body, dict), f"the problem+json body is not a JSON object: {response.text[:300]!r}"
    wrong = [name for name, kind in PROBLEM_FIELDS.items() if not isinstance(body.get(name), kind)]
    assert not wrong, f"the problem+json body lacks or mistypes {wrong}"
    assert body["status"] == response.status_code, f"problem status {body['status']} in a {response.status_code}"
    return True


def fuzz_config(*, steered: bool = False, stateful: bool = False) -> Any:
    from schemathesis.config import SchemathesisConfig

    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "headers": {"Authorization": "Bearer admin-token"},
            "generation": {
                "max-examples": EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "phases": {
                "examples": {"enabled": not (steered or stateful)},
                "coverage": {"enabled": not (steered or stateful)},
                "fuzzing": {"enabled": not stateful},
                "stateful": {"enabled": stateful, "max-steps": STEPS},
            },
            # Only the checks above; the rest (e.g. positive_data_acceptance) judge
            # semantics the document cannot express, such as free-form date strings.
            "checks": {
                "enabled": False,
                **{name: {"enabled": True} for name in CHECKS},
                # An invalid body that is also too large is refused as too large, before anything parses it.
                "negative_data_rejection": {"enabled": True, "expected-statuses": NEGATIVE_REFUSALS},
            },
        }
    )


RESOLVED: list[str] = []


def _offline(host: str, port: int) -> list[str]:
    """Resolves IP literals (and ``localhost``) without the network; any other name fails."""
    RESOLVED.append(host)
    if host.lower().rstrip(".") == "localhost":
        host = "127.0.0.1"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        return [str(info[4][0]) for info in infos]
    except (socket.gaierror, UnicodeError, ValueError):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (offline in the fuzz test)") from None


def _no_network(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError(f"the fuzz test sends no webhook ({request.url})", request=request)


def _as_served(app: Any) -> Any:
    """The app as a server runs it, minus the lifespan (the ``demo_client`` fixture owns that).

    Starlette answers an unhandled exception with its 500 and then re-raises it for the
    server to log; a server keeps going, and so does this wrapper, so that the 500 reaches
    the checks (and is reported with the request that caused it) like any other answer.
    """

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await app(scope, receive, tracking_send)
        except Exception:
            if not started:
                raise

    return asgi


SCHEMA = schemathesis.openapi.from_path(OPENAPI, config=fuzz_config()).exclude(path="/v1/stream")
# The same, fuzzing phase only (examples cannot be combined with `given`), for `steer`.
STEERED = schemathesis.openapi.from_path(OPENAPI, config=fuzz_config(steered=True)).exclude(path="/v1/stream")
STATEFUL = schemathesis.openapi.from_path(OPENAPI, config=fuzz_config(stateful=True)).exclude(path="/v1/stream")


@dataclass
class Target:
    """The app under test and ids that exist in it, for steering some generated cases."""

    app: Any
    ids: dict[str, list[str]]
    demo_events: list[dict[str, Any]]


@pytest.fixture(scope="module", autouse=True)
def cases_sent() -> Iterator[None]:
    """Prints how many cases each backend was sent (``pytest -s`` shows it)."""
    yield
    for backend, sent in SENT.items():
        lines = [f"  {count:5d}  {label}" for label, count in sorted(sent.items())]
        print("\n".join(lines))
        report(
            f"[fuzz {backend}] {sum(sent.values())} cases over {len(sent)} operation runs "
            f"(the fewest: {min(sent.values())}, {min(sent, key=sent.__getitem__)}), seed {SEED}"
        )


@pytest.fixture
def fuzz_target(
    demo_client: Any, container: Container, resolver: FakeResolver, monkeypatch: pytest.MonkeyPatch
) -> Target:
    """The app over the demo data, with nothing that could leave the machine."""
    container.dispatcher.stop()
    # The dispatcher is stopped; should anything still send, its HTTP client reaches nothing.
    monkeypatch.setattr(
        container.dispatcher.exchanges, "_client", httpx.AsyncClient(transport=httpx.MockTransport(_no_network))
    )
    resolver.fallback = _offline  # the service's resolver (bootstrap's), for every name
    # The guard must really ask the offline resolver (a documentation address, refused as private).
    RESOLVED.clear()
    with pytest.raises(guard.UnsafeTargetError):
        guard.check_target("http://192.0.2.1/", "", container.subscriptions.resolve)
    assert RESOLVED == ["192.0.2.1"], "the service no longer resolves through its resolver: update this test"
    # Loopback subscriptions may be created (nothing is ever delivered: the dispatcher is stopped).
    monkeypatch.setattr(container.subscriptions, "allow_hosts", "127.0.0.1")
    monkeypatch.setattr(container.settings, "read_wait", READ_WAIT)

    subscriptions = []
    for filters in ({}, {"types": ["MissionSuspended"]}, {"actors": ["nato"], "description": "fuzz"}):
        created = demo_client.post("/v1/subscriptions", json={"url": HOOK, **filters}, headers=ADMIN)
        assert created.status_code == 201, created.text
        subscriptions.append(created.json()["id"])
    replayed = demo_client.post(f"/v1/subscriptions/{subscriptions[0]}/replay", json={"after": 0}, headers=ADMIN)
    assert replayed.status_code == 200, replayed.text
    demo = demo_data()
    return Target(
        app=_as_served(demo_client.app),
        ids={
            "event_id": [event["event_id"] for event in demo["events"]],
            "actor_id": [actor["id"] for actor in demo["actors"]],
            "subscription_id": subscriptions,
        },
        demo_events=demo["events"],
    )


def _positive(case: Any, location: str) -> bool:
    """Whether the case's ``location`` (path, body, ...) was generated valid."""
    components = case.meta.components if case.meta is not None else {}
    return any(where.value == location and info.mode.value == "positive" for where, info in components.items())


def steer(case: Any, data: st.DataObject, target: Target) -> None:
    """Points some generated cases at things that exist, so that 2xx answers get checked too.

    Random ids almost never name a demo fact, actor or subscription, random URLs never pass
    the guard, and random batches are hardly ever valid. Only components generated valid
    are edited, and only with valid values: a case keeps its positive or negative verdict
    (Schemathesis does not re-judge edits made before the call).
    """
    if _positive(case, "path"):
        for name, values in target.ids.items():
            if name in case.path_parameters and data.draw(st.booleans(), label=f"known {name}"):
                case.path_parameters[name] = data.draw(st.sampled_from(values), label=name)
    if not _positive(case, "body"):
        return
    if isinstance(case.body, dict) and "url" in case.body and data.draw(st.booleans(), label="loopback url"):
        case.body["url"] = HOOK
    if case.operation.path == "/v1/events/batch" and data.draw(st.booleans(), label="demo batch"):
        case.body = {"events": data.draw(st.lists(st.sampled_from(target.demo_events), min_size=1, max_size=4))}


# Each (operation, backend) gets a fresh database with the demo data; the cases of one
# operation share it, as they would share a deployed service.
@SCHEMA.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_api_conforms_to_its_openapi_document(case: Any, fuzz_target: Target, container: Container) -> None:
    SENT.setdefault(container.url.get_backend_name(), Counter())[case.operation.label] += 1
    case.call_and_validate(app=fuzz_target.app)


@STEERED.parametrize()
@STEERED.given(data=st.data())
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_api_conforms_to_its_openapi_document_on_existing_resources(
    case: Any, data: st.DataObject, fuzz_target: Target, container: Container
) -> None:
    steer(case, data, fuzz_target)
    SENT.setdefault(container.url.get_backend_name(), Counter())[f"{case.operation.label} (steered)"] += 1
    case.call_and_validate(app=fuzz_target.app)


def test_api_conforms_to_its_openapi_document_in_linked_workflows(fuzz_target: Target, container: Container) -> None:
    backend = container.url.get_backend_name()
    reached: Counter[str] = SENT.setdefault(f"{backend} stateful", Counter())

    failures: list[str] = []

    scenarios = [0]

    class Workflow(STATEFUL.as_state_machine()):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            scenarios[0] += 1

        def call(self, case: Any, **kwargs: Any) -> Any:
            reached[case.operation.label] += 1
            return case.call(app=fuzz_target.app, **kwargs)

        def before_call(self, case: Any) -> None:
            # Random URLs never pass the guard: a valid body points at the loopback hook
            # instead, so that subscriptions get created and their operations followed.
            if _positive(case, "body") and isinstance(case.body, dict) and "url" in case.body:
                case.body["url"] = HOOK

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            # Collected, not raised: the service's state grows from one scenario to the next
            # (as a deployed one's does), so Hypothesis could not replay a failing scenario
            # and would report that instead of the failure.
            try:
                super().validate_response(response, case, **kwargs)
            except Exception as exc:  # noqa: BLE001 (every failed check is reported below)
                failures.append(f"{case.operation.label} -> {response.status_code}: {exc}\n{case.as_curl_command()}")

    for _ in range(3):
        try:
            Workflow.run(
                settings=settings(
                    max_examples=SCENARIOS - scenarios[0],
                    stateful_step_count=STEPS,
                    derandomize=True,
                    database=None,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                )
            )
            break
        except Flaky:
            # The service's state grows from one scenario to the next, so a step Hypothesis
            # takes again can meet another answer and draw something else; Schemathesis' own
            # runner ends its stateful phase there too. Failed checks were collected already:
            # go on with fresh scenarios against the grown state, up to the budget.
            if scenarios[0] >= SCENARIOS:
                break
    every = {operation.ok().label for operation in STATEFUL.get_all_operations()}
    report(
        f"[fuzz {backend} stateful] reached {len(reached)} of {len(every)} operations: "
        + ", ".join(f"{label} x{count}" for label, count in sorted(reached.items()))
    )
    assert not failures, f"{len(failures)} failed checks:\n" + "\n\n".join(failures[:10])
    # An operation on a fact or a subscription the API created (an id in its path) is
    # reachable only through links: those are what the stateful phase is for. Actor ids are
    # any slug, and the steered run already aims them at demo actors.
    on_resources = {label for label in every if "{event_id}" in label or "{subscription_id}" in label}
    assert not on_resources - set(reached), f"the links reach no call of {sorted(on_resources - set(reached))}"
