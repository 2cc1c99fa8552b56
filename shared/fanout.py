"""The department-task fan-out as pure rules: a declarative plan, task states, and how their states add
up to the application's progress. No I/O here; ``shared.tasks`` applies these rules to stored tasks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from shared.departments import Department


class TaskStatus(StrEnum):
    waiting = "waiting"  # its dependencies are not approved yet
    requested = "requested"  # sent to the department
    approved = "approved"
    rejected = "rejected"
    returned = "returned"  # the department wants more material (补正)


class Progress(StrEnum):
    in_progress = "in_progress"
    returned = "returned"
    rejected = "rejected"
    completed = "completed"


class ApplicationStatus:
    """The states every application shares; a service adds its own (e.g. notice periods)."""

    in_progress = "in_progress"  # the departments are working
    returned = "returned"  # a department wants more material (补正)
    rejected = "rejected"
    completed = "completed"


@dataclass(frozen=True)
class Step:
    """One department's part: what it does, which departments must approve first, its time limit."""

    department: Department
    kind: str
    depends_on: tuple[Department, ...] = ()
    working_days: int = 1


@dataclass(frozen=True)
class Plan:
    """The steps of one application; ``working_days`` bounds the whole (e.g. 企业开办 within 1 day)."""

    steps: tuple[Step, ...]
    working_days: int

    def __post_init__(self) -> None:
        departments = [s.department for s in self.steps]
        if len(set(departments)) != len(departments):
            raise ValueError("a department appears twice in the plan")
        known = set(departments)
        for step in self.steps:
            unknown = set(step.depends_on) - known
            if unknown:
                raise ValueError(f"{step.department} depends on departments not in the plan: {sorted(unknown)}")

    @property
    def departments(self) -> list[Department]:
        return [s.department for s in self.steps]

    def step(self, department: Department | str) -> Step:
        """The step of a department (KeyError when it is not in the plan)."""
        for s in self.steps:
            if s.department == department:
                return s
        raise KeyError(department)


def longest_chain(steps: Sequence[Step]) -> int:
    """The working days of the longest path of dependent steps (a step's days start once every step it waits
    for is done): what a plan of parallel and sequential steps takes at most, e.g. a supplier's days after the
    permits'."""
    by_department = {s.department: s for s in steps}

    def finish(step: Step) -> int:
        return step.working_days + max((finish(by_department[d]) for d in step.depends_on), default=0)

    return max((finish(s) for s in steps), default=0)


def ready_steps(plan: Plan, statuses: Mapping[str, TaskStatus]) -> list[Step]:
    """Waiting steps whose dependencies are all approved: the ones to request now."""
    return [
        s
        for s in plan.steps
        if statuses.get(s.department, TaskStatus.waiting) == TaskStatus.waiting
        and all(statuses.get(d) == TaskStatus.approved for d in s.depends_on)
    ]


def aggregate(statuses: Mapping[str, TaskStatus]) -> Progress:
    """The application's progress from its tasks: one rejection ends it, one return pauses it."""
    values = set(statuses.values())
    if TaskStatus.rejected in values:
        return Progress.rejected
    if TaskStatus.returned in values:
        return Progress.returned
    if values and values == {TaskStatus.approved}:
        return Progress.completed
    return Progress.in_progress
