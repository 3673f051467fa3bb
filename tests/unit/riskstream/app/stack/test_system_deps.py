"""The README commands' system-package step: what it decides for each machine."""

from __future__ import annotations

from riskstream.app.stack.system_deps import (
    REQUIREMENTS,
    TEST_REQUIREMENTS,
    main,
    missing_packages,
    plan,
)


def test_nothing_missing_means_nothing_to_do() -> None:
    assert missing_packages(REQUIREMENTS, lambda probe: True) == ()
    assert plan((), is_root=False, has_apt=False).action == "nothing"


def test_missing_commands_map_to_their_debian_packages() -> None:
    absent = {"redis-server", "mvn"}
    missing = missing_packages(REQUIREMENTS, lambda probe: probe not in absent)
    assert missing == ("redis-server", "maven")


def test_root_with_apt_installs_exactly_what_is_missing() -> None:
    decided = plan(("redis-server",), is_root=True, has_apt=True)
    assert decided.action == "install"
    assert decided.packages == ("redis-server",)


def test_a_user_without_root_is_told_the_packages_in_one_line() -> None:
    decided = plan(("redis-server", "maven"), is_root=False, has_apt=True)
    assert decided.action == "tell"
    assert "\n" not in decided.message
    assert "sudo apt-get install -y redis-server maven" in decided.message


def test_root_without_apt_is_told_too_never_guessed_at() -> None:
    decided = plan(("redis-server",), is_root=True, has_apt=False)
    assert decided.action == "tell"
    assert "apt-get" not in decided.message
    assert "redis-server" in decided.message


def test_the_tests_also_need_a_browser() -> None:
    assert ("chromium", "chromium") in TEST_REQUIREMENTS
    assert all(package != "chromium" for _, package in REQUIREMENTS)


def test_main_exits_non_zero_when_it_can_only_tell(monkeypatch, capsys) -> None:
    import riskstream.app.stack.system_deps as deps

    monkeypatch.setattr(deps, "present", lambda probe: probe != "redis-server")
    monkeypatch.setattr(deps.os, "geteuid", lambda: 1000)
    assert main([]) == 1
    assert "redis-server" in capsys.readouterr().out
