"""Roles for the HTTP API's tokens: viewer < operator < admin, each allowing what the ones
below allow; an unknown role is one InvalidInput naming the choices."""

from __future__ import annotations

import pytest

import legato
from legato.domain.roles import NEEDED, ROLES, allows, check_role, needed


def test_roles_are_ordered_and_each_allows_what_is_below_it() -> None:
    assert ROLES == ("viewer", "operator", "admin")
    for i, role in enumerate(ROLES):
        for j, other in enumerate(ROLES):
            assert allows(role, other) is (i >= j), (role, other)


@pytest.mark.parametrize(("action", "role"), [
    ("read", "viewer"), ("start", "operator"), ("cancel", "operator"),
    ("terminate", "operator"), ("retry", "operator"), ("signal", "operator"),
    ("event.publish", "operator"), ("schedule.pause", "operator"),
    ("schedule.resume", "operator"), ("schedule.trigger", "operator"),
    ("task.complete", "operator"), ("token.create", "admin"), ("token.revoke", "admin"),
    ("user.add", "admin"), ("circuit.reset", "admin"), ("purge", "admin"),
])
def test_each_action_needs_its_role(action: str, role: str) -> None:
    assert needed(action) == role
    assert allows(role, needed(action))
    below = ROLES[:ROLES.index(role)]
    assert not any(allows(r, needed(action)) for r in below)


def test_every_listed_action_names_a_role() -> None:
    assert set(NEEDED.values()) <= set(ROLES)


@pytest.mark.parametrize("bad", ["", "root", "Admin ", None, 3])
def test_an_unknown_role_names_the_choices(bad: object) -> None:
    with pytest.raises(legato.InvalidInput) as err:
        check_role(bad)
    assert "viewer, operator, admin" in str(err.value)
    with pytest.raises(legato.InvalidInput):
        allows(bad, "viewer")  # type: ignore[arg-type]


def test_a_role_is_taken_case_insensitively() -> None:
    assert check_role("Operator") == "operator"
    with pytest.raises(legato.InvalidInput, match="unknown action"):
        needed("launch.missiles")
