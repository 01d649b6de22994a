"""The doctor's runner: order, dependencies, and what a failure, a skip or a bug becomes."""

from __future__ import annotations

from hrupload.app.doctor import Item, Outcome, Problem, Skip, passed, run
from hrupload.core.errors import ConfigError


def fails(message: str):
    def check() -> str:
        raise ConfigError(message)

    return check


def skips(message: str):
    def check() -> str:
        raise Skip(message)

    return check


def test_checks_run_in_order_and_report_what_they_saw() -> None:
    seen: list[str] = []

    def check(name: str):
        def run_it() -> str:
            seen.append(name)
            return f"{name} fine"

        return run_it

    checks = run([Item("a", "A", check("a")), Item("b", "B", check("b"), needs=("a",))])

    assert seen == ["a", "b"]
    assert [(c.name, c.outcome, c.detail) for c in checks] == [
        ("a", Outcome.OK, "a fine"),
        ("b", Outcome.OK, "b fine"),
    ]
    assert passed(checks)


def test_a_failure_carries_the_items_fix_and_skips_what_needs_it_without_running_it() -> None:
    ran: list[str] = []

    def later() -> str:
        ran.append("later")
        return "ran"

    checks = run(
        [
            Item("storage", "storage", fails("storage did not answer"), fix="check HR_STORAGE"),
            Item("table", "runs table", later, needs=("storage",)),
            Item("other", "other", lambda: "independent"),
        ]
    )

    assert ran == []
    storage, table, other = checks
    assert (storage.outcome, storage.detail, storage.fix) == (
        Outcome.FAILED,
        "storage did not answer",
        "check HR_STORAGE",
    )
    assert (table.outcome, table.detail) == (Outcome.SKIPPED, "skipped: storage failed")
    assert other.outcome == Outcome.OK
    assert not passed(checks)


def test_a_problem_brings_its_own_fix() -> None:
    def check() -> str:
        raise Problem("container 'x' does not exist", fix="create it")

    (result,) = run([Item("c", "container", check, fix="a general fix")])

    assert (result.outcome, result.fix) == (Outcome.FAILED, "create it")


def test_a_skip_is_not_a_failure_and_skips_its_dependents_naming_it() -> None:
    checks = run(
        [
            Item("storage", "storage", skips("no storage set; set HR_STORAGE")),
            Item("table", "runs table", lambda: "never", needs=("storage",)),
        ]
    )

    assert [c.outcome for c in checks] == [Outcome.SKIPPED, Outcome.SKIPPED]
    assert checks[0].detail == "skipped: no storage set; set HR_STORAGE"
    assert checks[1].detail == "skipped: storage skipped"
    assert passed(checks)


def test_a_bug_in_one_check_fails_that_item_only() -> None:
    def broken() -> str:
        raise KeyError("oops")

    checks = run([Item("a", "A", broken, fix="report it"), Item("b", "B", lambda: "fine")])

    assert checks[0].outcome == Outcome.FAILED
    assert checks[0].detail.startswith("unexpected KeyError")
    assert checks[1].outcome == Outcome.OK


def test_what_a_check_says_is_redacted() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    checks = run(
        [
            Item("a", "A", fails(f"the proxy echoed Bearer {token} for ann@contoso.com")),
            Item("b", "B", lambda: f"answered with {token}"),
        ]
    )

    for check in checks:
        assert token not in check.detail
        assert "ann@contoso.com" not in check.detail


def test_to_dict_is_plain_text() -> None:
    (check,) = run([Item("a", "A", fails("bad"), fix="fix it")])

    assert check.to_dict() == {
        "name": "a",
        "title": "A",
        "outcome": "failed",
        "detail": "bad",
        "fix": "fix it",
    }
