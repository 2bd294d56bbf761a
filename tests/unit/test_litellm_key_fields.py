"""LiteLLM's key fields (warnings, stored settings), when an error is worth a retry, and the
proxy-wide budget's windows."""

from __future__ import annotations

import pytest

from proxy.api.endpoint import error_response, retry_helps
from proxy.errors import InvalidRequestError, RateLimitError, UpstreamError
from proxy.keys.budget import Budget, BudgetExceededError
from proxy.keys.litellm_fields import merged
from proxy.keys.proxy_budget import OWNER, proxy_budget, window_start
from proxy.keys.records import KeyFields


def fields(**given: object) -> KeyFields:
    return KeyFields.model_validate(given)


def test_litellm_empty_defaults_warn_of_nothing() -> None:
    f = fields(aliases={}, config={}, tags=None, auto_rotate=False, key_type="default", spend=0)
    assert f.warnings(f.model_fields_set) == []


def test_each_stored_only_value_is_named_once() -> None:
    f = fields(tpm_limit=0, permissions={"a": 1}, team_id="t", max_parallel_requests=2)
    assert [w.split(":")[0] for w in f.warnings(f.model_fields_set)] == [
        "team_id",
        "permissions",
    ]


def test_settings_keep_what_was_given_and_null_removes_it() -> None:
    f = fields(max_parallel_requests=3, aliases={"mine": "g"}, tpm_limit=None)
    changes = f.settings(f.model_fields_set)
    assert changes == {"max_parallel_requests": 3, "aliases": {"mine": "g"}, "tpm_limit": None}
    assert merged({"tpm_limit": 5, "tags": ["x"]}, changes) == {
        "tags": ["x"],
        "max_parallel_requests": 3,
        "aliases": {"mine": "g"},
    }


@pytest.mark.parametrize(
    "bad",
    [{"max_parallel_requests": 0}, {"aliases": {"a\nb": "g"}}, {"key": "not-a-key"}, {"x": 1}],
)
def test_bad_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        fields(**bad)


@pytest.mark.parametrize(
    ("error", "retry_after", "helps"),
    [
        (UpstreamError("boom"), None, True),
        (RateLimitError("rpm"), "60", True),
        (RateLimitError("rpm"), "61", False),  # the SDKs would not wait that long
        (BudgetExceededError("spent"), None, False),
        (InvalidRequestError("bad"), None, False),
    ],
)
def test_retry_helps(error: UpstreamError, retry_after: str | None, helps: bool) -> None:
    assert retry_helps(error, retry_after) is helps
    if retry_after is not None:
        error.headers["retry-after"] = retry_after
    header = error_response(error).headers.get("x-should-retry")
    assert header == (None if helps else "false")


def test_the_proxy_budget_window_is_aligned_to_the_epoch() -> None:
    b = proxy_budget({"max_budget": 1.5, "budget_duration": "1d"}, now=86_400 * 3 + 5)
    assert b is not None and b.owner == OWNER
    assert (b.max_budget, b.reset_at, window_start(b)) == (1.5, 86_400 * 4, 86_400 * 3)
    forever = proxy_budget({"max_budget": 2}, now=5)
    assert forever is not None and forever.reset_at is None and window_start(forever) is None
    assert proxy_budget({"budget_duration": "1d"}) is None


def test_a_spent_proxy_budget_refuses_with_never() -> None:
    b: Budget | None = proxy_budget({"max_budget": 0.04}, now=0)
    assert b is not None
    b.admit(0.04, now=0)
    b.settle(0.04, 0.04, b.period)
    with pytest.raises(BudgetExceededError) as refused:
        b.admit(0.04, now=1)
    assert "never resets" in refused.value.message and refused.value.headers == {}


def test_the_token_window_admits_below_the_limit_and_forgets_after_a_minute() -> None:
    from proxy.errors import RateLimitError
    from proxy.keys.budget import TpmWindow

    window = TpmWindow(10)
    window.check("k", now=0.0)
    window.add(7, now=1.0)
    window.check("k", now=2.0)  # 7 < 10
    window.add(5, now=3.0)
    with pytest.raises(RateLimitError) as refused:
        window.check("k", now=4.0)
    assert refused.value.headers["retry-after"] == "57"  # the first 7 leave at 61 s
    window.check("k", now=61.5)  # only the 5 of t=3 remain
    assert window.total == 5
