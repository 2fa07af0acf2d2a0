"""Which address a delivery connects to, and with which name in Host and TLS, as the guard pins it."""

from __future__ import annotations

import pytest

from service.webhooks import guard
from tests.support.subscriptions import FakeResolver


@pytest.mark.parametrize(
    ("url", "answers", "expected"),
    [
        (
            "https://hooks.example.org/in?k=1",
            ["203.0.113.9"],
            [("https://203.0.113.9/in?k=1", "hooks.example.org", "hooks.example.org")],
        ),
        (
            "https://user:pw@hooks.example.org:8443/in",
            ["2001:db8::5", "203.0.113.9"],
            [
                ("https://user:pw@[2001:db8::5]:8443/in", "hooks.example.org:8443", "hooks.example.org"),
                ("https://user:pw@203.0.113.9:8443/in", "hooks.example.org:8443", "hooks.example.org"),
            ],
        ),
        ("http://hooks.example.org/in", ["203.0.113.9"], [("http://203.0.113.9/in", "hooks.example.org", None)]),
    ],
)
def test_pinned_targets_keep_the_name_for_host_and_tls(
    url: str, answers: list[str], expected: list[tuple[str, str, str | None]]
) -> None:
    # Documentation addresses count as reserved: the allow-list admits them for this test.
    resolver = FakeResolver({"hooks.example.org": answers})
    targets = guard.pinned(url, "203.0.113.0/24,2001:db8::/32", resolver)
    assert [(t.url, t.host, t.server_name) for t in targets] == expected


def test_a_host_the_allow_list_names_is_called_as_it_is() -> None:
    resolver = FakeResolver({})
    assert guard.pinned("http://hooks.internal/x", "hooks.internal", resolver) == []
    assert resolver.lookups == []
