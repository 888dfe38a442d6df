"""A subscription's windows from the API's headers and the CLI's events, pure: when a sink is
used up, with and without overage, and the headers that report it back."""

import pytest

from gateway.sinks.quota import HEADER_PREFIX, Quota, limited_error

NOW = 1_800_000_000.0
RESET = NOW + 3600


def headers(**values: str) -> dict[str, str]:
    return {HEADER_PREFIX + name.replace("_", "-"): value for name, value in values.items()}


def test_headers_and_events_give_the_same_state():
    from_headers = Quota.from_headers(headers(
        status="rejected", representative_claim="five_hour", reset=str(int(RESET)),
        **{"5h_utilization": "1.0", "5h_reset": str(int(RESET)), "7d_utilization": "0.3"},
    ), now=NOW)  # fmt: skip
    from_event = Quota.from_event({
        "status": "rejected", "resetsAt": RESET, "rateLimitType": "five_hour",
        "isUsingOverage": False,
        "unifiedWindows": {"five_hour": {"utilization": 1, "resetsAt": RESET},
                           "seven_day": {"utilization": 0.3}},
    }, now=NOW)  # fmt: skip
    assert from_headers == from_event
    assert from_headers.limited_until(NOW, allow_overage=True) == RESET
    assert Quota.from_headers({"content-type": "application/json"}) is None  # an API key's


@pytest.mark.parametrize(
    ("info", "allow", "until"),
    [
        ({"status": "allowed"}, False, None),
        ({"status": "allowed_warning", "resetsAt": RESET}, False, None),
        ({"status": "rejected", "resetsAt": RESET}, True, RESET),
        ({"status": "rejected", "resetsAt": NOW - 1}, True, None),  # an old state: reset since
        # A window but no reset named: a minute from when it was heard.
        ({"status": "rejected", "rateLimitType": "five_hour"}, True, NOW + 60),
        # Neither (an ordinary 429, "not your usage limit"): not a used-up window at all.
        ({"status": "rejected"}, True, None),
        # A reset in milliseconds, as the CLI passes it on when the header says so.
        ({"status": "rejected", "resetsAt": RESET * 1000}, True, RESET),
        # Served from paid overage: fine unless overage is refused.
        ({"status": "rejected", "resetsAt": RESET, "isUsingOverage": True}, True, None),
        ({"status": "rejected", "resetsAt": RESET, "isUsingOverage": True}, False, RESET),
        ({"status": "allowed", "resetsAt": RESET, "overageInUse": True}, True, None),
        ({"status": "allowed", "resetsAt": RESET, "overageInUse": True}, False, RESET),
    ],
)
def test_when_a_sink_is_used_up(info, allow, until):
    assert Quota.from_event(info, now=NOW).limited_until(NOW, allow_overage=allow) == until


def test_the_headers_a_client_gets_back_read_as_the_same_state():
    quota = Quota.from_event({
        "status": "allowed_warning", "resetsAt": RESET, "rateLimitType": "seven_day",
        "overageStatus": "allowed", "overageInUse": True,
        "unifiedWindows": {"seven_day": {"utilization": 0.8, "resetsAt": RESET,
                                         "surpassedThreshold": 0.75}},
    }, now=NOW)  # fmt: skip
    sent = quota.headers()
    assert sent[HEADER_PREFIX + "7d-utilization"] == "0.8"
    assert sent[HEADER_PREFIX + "reset"] == str(int(RESET))
    again = Quota.from_headers(sent, now=NOW)
    assert (again.status, again.limit_type, again.windows) == (
        quota.status,
        quota.limit_type,
        quota.windows,
    )


def test_the_429_names_the_window_and_its_reset():
    quota = Quota.from_event({"status": "rejected", "resetsAt": RESET,
                              "rateLimitType": "seven_day"}, now=NOW)  # fmt: skip
    error = limited_error("claude", quota)
    assert error.status == 429 and error.code == "usage_limit_reached"
    assert "sink 'claude' has used up its seven-day limit" in error.message
    assert "2027-01-15" in error.message  # the reset, as a UTC date and time
    overage = limited_error("claude", quota, overage_refused=True)
    assert "paid overage" in overage.message


def test_a_state_without_a_reset_stops_limiting_a_minute_after_it_was_heard():
    quota = Quota.from_event({"status": "rejected", "rateLimitType": "seven_day"}, now=NOW)
    assert quota.limited_until(NOW + 30, allow_overage=True) == NOW + 60
    assert quota.limited_until(NOW + 3 * 3600, allow_overage=True) is None
    assert "an unknown time" in limited_error("claude", quota).message
