"""Each error the domain raises gets its answer from the API's table, not from the error."""

from __future__ import annotations

import inspect

import orjson

from service.api.problems import ANSWERS, timeline_problem
from service.domain import errors
from service.domain.errors import InvalidInputError, NotCaughtUpError, NotFoundError, TimelineError


def test_every_domain_error_has_its_own_answer() -> None:
    # A new error class left out of the table would silently be answered as a plain 400.
    raised = {cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, TimelineError)}
    assert raised == set(ANSWERS)


def test_an_error_is_answered_with_its_status_title_and_fields() -> None:
    problem = timeline_problem(InvalidInputError("to: bad", errors=[{"field": "to", "message": "bad"}]))
    assert problem.status_code == 422
    assert orjson.loads(problem.body) == {
        "type": "about:blank",
        "title": "Invalid input",
        "status": 422,
        "detail": "to: bad",
        "errors": [{"field": "to", "message": "bad"}],
    }
    assert timeline_problem(NotFoundError("gone")).status_code == 404


def test_not_caught_up_says_when_to_ask_again() -> None:
    problem = timeline_problem(NotCaughtUpError("not yet"))
    assert (problem.status_code, problem.headers["Retry-After"]) == (503, "1")


def test_a_subclass_is_answered_as_its_nearest_listed_base() -> None:
    class ActorMissingError(NotFoundError):
        pass

    assert timeline_problem(ActorMissingError("no actor")).status_code == 404
