"""The failed-login limiter, with a clock the test moves."""

from __future__ import annotations

from web.ratelimit import LoginLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_blocks_after_max_failures_within_window() -> None:
    clock = Clock()
    limiter = LoginLimiter(clock, max_failures=3, window=60)
    key = LoginLimiter.key("Admin ", "10.0.0.1")
    assert key == ("admin", "10.0.0.1")
    for _ in range(2):
        limiter.record_failure(key)
    assert not limiter.blocked(key)
    limiter.record_failure(key)
    assert limiter.blocked(key)
    assert not limiter.blocked(LoginLimiter.key("admin", "10.0.0.2"))
    assert not limiter.blocked(LoginLimiter.key("other", "10.0.0.1"))


def test_failures_age_out() -> None:
    clock = Clock()
    limiter = LoginLimiter(clock, max_failures=2, window=60)
    key = LoginLimiter.key("admin", "10.0.0.1")
    limiter.record_failure(key)
    clock.now += 30
    limiter.record_failure(key)
    assert limiter.blocked(key)
    clock.now += 31  # the first failure is now older than the window
    assert not limiter.blocked(key)


def test_success_resets() -> None:
    limiter = LoginLimiter(Clock(), max_failures=1)
    key = LoginLimiter.key("admin", None)
    limiter.record_failure(key)
    assert limiter.blocked(key)
    limiter.reset(key)
    assert not limiter.blocked(key)


def test_memory_is_bounded() -> None:
    clock = Clock()
    limiter = LoginLimiter(clock, max_failures=1, window=60, max_keys=3)
    keys = [LoginLimiter.key(f"user{i}", "10.0.0.1") for i in range(5)]
    for key in keys:
        clock.now += 1
        limiter.record_failure(key)
    # The newest keys are remembered, the oldest forgotten.
    assert limiter.blocked(keys[-1])
    assert not limiter.blocked(keys[0])
