"""P1's figure is the median run of its rounds, each run against the reference passes either side."""

from __future__ import annotations

from bench.deployment import Drain
from bench.pipeline_vs_reference import FLOOR, P1, Copy, Run, between


def _run(processes: int, seconds: float, reference_seconds: float, complete: bool = True) -> Run:
    return Run(processes, Drain(1000, seconds, complete), Copy(1000, reference_seconds), True)


def test_a_run_is_compared_with_the_mean_time_of_the_passes_either_side() -> None:
    assert between(Copy(1000, 4.0), Copy(1000, 6.0)) == Copy(1000, 5.0)


def test_the_figure_is_the_median_ratio_of_the_runs_with_that_many_processes() -> None:
    runs = (_run(2, 5.0, 5.0), _run(1, 9.0, 4.5), _run(2, 4.0, 5.0), _run(1, 8.0, 4.0), _run(2, 10.0, 5.0))
    p1 = P1(3000, runs)
    assert p1.median(2).ratio == 1.0  # 0.5, 1.0 and 1.25: the middle one
    assert p1.median(2) is runs[0]


def test_of_an_even_count_the_lower_middle_run_is_taken_so_a_figure_never_rounds_up() -> None:
    p1 = P1(1000, (_run(1, 8.0, 4.0), _run(1, 5.0, 4.0)))
    assert p1.median(1).ratio == 0.5


def test_one_incomplete_drain_makes_its_process_count_incomplete() -> None:
    p1 = P1(1000, (_run(2, 5.0, 5.0), _run(2, 5.0, 5.0, complete=False), _run(1, 5.0, 5.0)))
    assert not p1.complete(2)
    assert p1.complete(1)
    assert [run.drain.complete for run in p1.of(2)] == [True, False]


def test_the_floor_runs_have_figures_of_their_own_and_leave_the_pipeline_s_alone() -> None:
    pipeline = _run(2, 5.0, 5.0)
    faster, slower = (Run(2, Drain(1000, s, True), Copy(1000, 5.0), True, FLOOR) for s in (4.0, 6.0))
    bad_floor = Run(1, Drain(1000, 9.0, True), Copy(1000, 5.0), False, FLOOR)
    p1 = P1(1000, (pipeline, faster, slower, bad_floor))
    assert p1.of(2) == [pipeline]
    assert p1.median(2) is pipeline
    assert p1.median(2, FLOOR) is slower  # 1.25 and 0.83: of an even count, the lower
    assert p1.exactly_once  # the pipeline's verdict
    assert not p1.floor_exactly_once
