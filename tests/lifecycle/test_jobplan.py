"""A job's plan round-trips through the state database's JSON, and an older row reads."""

from __future__ import annotations

from hardbase.lifecycle.jobplan import JobPlan, LockChange


def test_round_trip() -> None:
    plan = JobPlan(
        mode="minimal",
        targets=("netbase",),
        fixes=("fix:FIXTURE-1:netbase",),
        fix_findings=("finding:FIXTURE-1:netbase", "finding:FIXTURE-2:netbase"),
        baseline=("FIXTURE-0|netbase",),
        changes=(LockChange("netbase", "all", "6.5", "6.5+deb13u1"),),
    )
    assert JobPlan.from_json(plan.to_json()) == plan
    assert plan.fixed_ids() == ("FIXTURE-1", "FIXTURE-2")
    assert plan.changes[0].describe() == "netbase 6.5 -> 6.5+deb13u1"


def test_an_old_or_odd_row_reads_as_far_as_it_goes() -> None:
    plan = JobPlan.from_json({"changes": [{"package": "tzdata", "new": "2025b"}, "junk"]})
    assert plan == JobPlan(changes=(LockChange("tzdata", "", "", "2025b"),))
    assert plan.changes[0].describe() == "tzdata (new) -> 2025b"
    assert JobPlan.from_json({"targets": "not a list"}).targets == ()
