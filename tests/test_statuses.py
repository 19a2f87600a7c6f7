"""The transition tables: every legal move allowed, every other one refused."""

import itertools

import pytest

from llmos_tui.core.errors import IllegalTransition
from llmos_tui.core.statuses import (
    RUN_STATUSES,
    RUN_TRANSITIONS,
    STEP_STATUSES,
    STEP_TRANSITIONS,
    check_run,
    check_step,
)

RUN_PAIRS = list(itertools.product(RUN_STATUSES, RUN_STATUSES))
STEP_PAIRS = list(itertools.product(STEP_STATUSES, STEP_STATUSES))


@pytest.mark.parametrize("frm,to", [p for p in RUN_PAIRS if p[1] not in RUN_TRANSITIONS[p[0]]])
def test_illegal_run_transition_raises(frm, to):
    with pytest.raises(IllegalTransition, match=f"{frm} to {to}"):
        check_run(frm, to)


@pytest.mark.parametrize("frm,to", [p for p in RUN_PAIRS if p[1] in RUN_TRANSITIONS[p[0]]])
def test_legal_run_transition_passes(frm, to):
    check_run(frm, to)


@pytest.mark.parametrize("frm,to", [p for p in STEP_PAIRS if p[1] not in STEP_TRANSITIONS[p[0]]])
def test_illegal_step_transition_raises(frm, to):
    with pytest.raises(IllegalTransition, match=f"step 7 cannot go from {frm} to {to}"):
        check_step(7, frm, to)


@pytest.mark.parametrize("frm,to", [p for p in STEP_PAIRS if p[1] in STEP_TRANSITIONS[p[0]]])
def test_legal_step_transition_passes(frm, to):
    check_step(1, frm, to)


def test_terminal_states_have_no_way_out():
    for terminal in ("completed", "failed", "cancelled"):
        assert RUN_TRANSITIONS[terminal] == frozenset()
    for settled in ("done", "failed", "denied", "skipped"):
        assert STEP_TRANSITIONS[settled] == frozenset()


def test_unknown_status_is_refused():
    with pytest.raises(IllegalTransition, match="unknown run status"):
        check_run("running", "exploded")
    with pytest.raises(IllegalTransition, match="unknown step status"):
        check_step(1, "running", "teleported")


def test_ledger_refuses_an_illegal_transition_in_a_journal(tmp_path):
    """A journal that records an impossible move is reported, not silently folded."""
    from llmos_tui.core.errors import FileFormatError
    from llmos_tui.core.ledger import Ledger

    recs = [
        {"seq": 1, "kind": "run_started", "data": {"run_id": "r", "goal": "g"}},
        {"seq": 2, "kind": "run_status", "from": "planning", "to": "completed", "data": {}},
        {"seq": 3, "kind": "run_status", "from": "completed", "to": "running", "data": {}},
    ]
    with pytest.raises(FileFormatError, match="seq 3 .*completed to running"):
        Ledger.from_records(recs)
