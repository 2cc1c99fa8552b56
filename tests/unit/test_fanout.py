"""The department-task fan-out rules."""

from __future__ import annotations

import pytest

from shared.departments import Department as D
from shared.fanout import Plan, Progress, Step, aggregate, ready_steps
from shared.fanout import TaskStatus as S

PLAN = Plan((Step(D.samr, "licence"), Step(D.tax, "tax", (D.samr,)), Step(D.psb, "seal", (D.samr,))), 1)


def test_ready_steps_follow_dependencies() -> None:
    assert [s.department for s in ready_steps(PLAN, {})] == [D.samr]
    assert ready_steps(PLAN, {"samr": S.requested, "tax": S.waiting, "psb": S.waiting}) == []
    ready = ready_steps(PLAN, {"samr": S.approved, "tax": S.waiting, "psb": S.waiting})
    assert [s.department for s in ready] == [D.tax, D.psb]
    assert ready_steps(PLAN, {"samr": S.approved, "tax": S.requested, "psb": S.approved}) == []


def test_aggregate() -> None:
    assert aggregate({"samr": S.approved, "tax": S.approved}) == Progress.completed
    assert aggregate({"samr": S.approved, "tax": S.requested}) == Progress.in_progress
    assert aggregate({"samr": S.approved, "tax": S.returned, "psb": S.approved}) == Progress.returned
    assert aggregate({"samr": S.rejected, "tax": S.returned}) == Progress.rejected
    assert aggregate({}) == Progress.in_progress


def test_plan_refuses_unknown_dependencies_and_duplicates() -> None:
    with pytest.raises(ValueError):
        Plan((Step(D.tax, "tax", (D.samr,)),), 1)
    with pytest.raises(ValueError):
        Plan((Step(D.tax, "a"), Step(D.tax, "b")), 1)
