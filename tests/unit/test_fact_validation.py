"""Every bad fact is refused by the validator, naming the field the API's 422 answer names."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from service.domain.facts import validate_fact
from service.domain.field_errors import field_errors
from tests.support.answers import field_matches
from tests.support.bad_facts import BAD_FACTS


@pytest.mark.parametrize(("body", "fields"), BAD_FACTS)
def test_bad_fact_is_refused_naming_the_field(body: Any, fields: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as refused:
        validate_fact(body)
    named = [e["field"] for e in field_errors(refused.value.errors())]
    assert any(field_matches(n, f) for n in named for f in fields), (
        f"expected an error naming {' or '.join(fields)}; errors name {named}"
    )
