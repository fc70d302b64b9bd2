"""`bench compare --suite`: a suite killed mid-case resumes where it stopped, a deleted case is the only one re-run, and
the aggregated report agrees with counts made directly from the records and with Optuna's own storage."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from bench.run.environment import process_alive
from tests.helpers import Holds, bench, error_lines, start_bench, wait_for

SUITE = """
name: two-cases
seeds: 2
budget: {max_epochs: 2}
cases:
- {name: short, task: synthetic, budget: {trials: 3}}
- {name: long, task: synthetic, budget: {trials: 6}}
"""
COMMAND = ("compare", "--backends", "optuna", "--algorithms", "qmc")  # the reference, optuna's random search, is added


def _suite_args(tmp: Path, out: Path) -> list[str]:
    return [*COMMAND, "--suite", str(tmp / "suite.yaml"), "--out", str(out)]


def _runs(out: Path, case: str) -> dict[str, Path]:
    return {p.name: p for p in sorted((out / "cases" / case / "runs").iterdir())}


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "trials.jsonl").read_text().splitlines() if line.strip()]


def _optuna_states(run: Path) -> list[tuple[int, str]]:
    import optuna

    from backends.optuna_storage import journal_storage

    study = optuna.load_study(study_name=None, storage=journal_storage(run / "optuna" / "journal.log"))
    return sorted((t.number, t.state.name) for t in study.get_trials(deepcopy=False))


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    """The suite is SIGKILLed while case `long`'s first run holds trial 4, then the same command is run again."""
    tmp = tmp_path_factory.mktemp("suite")
    (tmp / "suite.yaml").write_text(SUITE)
    out = tmp / "out"
    holds = Holds(tmp / "holds", (4, 1))  # only case `long` (6 trials) has a trial 4
    suite = start_bench(*_suite_args(tmp, out), env=holds.env)
    held = holds.wait(4, 1)
    short_before = {name: (run / "trials.jsonl").read_bytes() for name, run in _runs(out, "short").items()}
    suite.kill()
    suite.wait(timeout=30)
    wait_for(lambda: not process_alive(held["pid"]), timeout=30)  # the run died with the suite that started it
    killed_run = _runs(out, "long")["optuna-qmc-s0"]
    killed_status = json.loads((killed_run / "run.json").read_text())["status"]
    holds.release_all()
    again = bench(*_suite_args(tmp, out), env=holds.env)
    return tmp, out, short_before, killed_status, again


def test_a_killed_suite_continues_where_it_stopped(killed_and_resumed):
    _, out, short_before, killed_status, again = killed_and_resumed
    assert again.returncode == 0, error_lines(again.stderr)
    assert killed_status == "running"  # SIGKILLed: the run had no chance to say anything else
    lines = again.stdout.splitlines()
    case_of = {}
    case = None
    for line in lines:
        if line.startswith("case "):
            case = line.removeprefix("case ").rstrip(":")
        elif line.startswith("  ") and ":" in line and case:
            name, _, said = line.strip().partition(": ")
            case_of[(case, name)] = said
    assert case_of == {**{("short", f"optuna-{a}-s{s}"): "already recorded" for a in ("qmc", "random") for s in (0, 1)},
                       ("long", "optuna-qmc-s0"): "resumed, ok", ("long", "optuna-qmc-s1"): "ok",
                       ("long", "optuna-random-s0"): "ok", ("long", "optuna-random-s1"): "ok"}
    assert {name: (run / "trials.jsonl").read_bytes() for name, run in _runs(out, "short").items()} == short_before


def test_the_killed_run_keeps_its_budget_and_agrees_with_optunas_storage(killed_and_resumed):
    _, out, _, _, _ = killed_and_resumed
    for case, trials in (("short", 3), ("long", 6)):
        for name, run in _runs(out, case).items():
            records = _records(run)
            assert json.loads((run / "run.json").read_text())["status"] == "complete", (case, name)
            assert sorted(r["number"] for r in records) == list(range(trials)), (case, name)
            ours = sorted((r["number"], {"complete": "COMPLETE", "failed": "FAIL", "pruned": "PRUNED"}[r["state"]]) for r in records)
            assert ours == _optuna_states(run), (case, name)
    killed = {r["number"]: r for r in _records(_runs(out, "long")["optuna-qmc-s0"])}
    assert killed[4]["state"] == "failed"  # the trial the kill cut short, settled as failed here and in Optuna's storage


def _direct_scores(out: Path) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str, float], float]]:
    """Normalised scores and first-reach seconds, computed straight from run.json and trials.jsonl."""
    scores, reach = {}, {}
    for case in ("short", "long"):
        runs = _runs(out, case)
        direction = json.loads((next(iter(runs.values())) / "run.json").read_text())["task"]["objective"]["direction"]
        better = max if direction == "max" else min
        bests = {name: better(r["objective"] for r in _records(run) if r["state"] == "complete") for name, run in runs.items()}
        case_best = better(bests.values())
        reference = (bests["optuna-random-s0"] + bests["optuna-random-s1"]) / 2  # the reference's mean over seeds
        for name, run in runs.items():
            scores[(case, name)] = (bests[name] - reference) / (case_best - reference)
            best_yet = None
            for record in sorted(_records(run), key=lambda r: (r["finished_at_seconds"], r["number"])):
                if record["state"] == "complete" and (best_yet is None or better(record["objective"], best_yet) == record["objective"]):
                    best_yet = record["objective"]
                for target in (0.5, 1.0):
                    if best_yet is not None and (case, name, target) not in reach and \
                            (best_yet - reference) / (case_best - reference) >= target - 1e-9:
                        reach[(case, name, target)] = record["finished_at_seconds"]
    return scores, reach


def test_the_report_agrees_with_a_direct_count_from_the_records(killed_and_resumed):
    _, out, _, _, _ = killed_and_resumed
    scores, reach = _direct_scores(out)
    written = pd.read_csv(out / "summary" / "scores_per_run.csv")
    for (case, name), expected in scores.items():
        row = written[(written["case"] == case) & (written["run_id"] == name)]
        assert row["score"].iloc[0] == pytest.approx(expected), (case, name)
    profile = pd.read_csv(out / "summary" / "profile_seconds.csv")
    for label in ("optuna/qmc", "optuna/random"):
        names = [f"{label.replace('/', '-')}-s{seed}" for seed in (0, 1)]
        for target in (0.5, 1.0):
            times = sorted(reach.get((case, name, target), math.inf) for case in ("short", "long") for name in names)
            for at in [*[t for t in times if math.isfinite(t)], 1e9]:
                curve = profile[(profile["label"] == label) & (profile["target"] == target) & (profile["seconds"] <= at)]
                share = float(curve["share"].max()) if len(curve) else 0.0
                assert share == pytest.approx(sum(t <= at for t in times) / 4), (label, target, at)
    assert any(math.isfinite(t) for t in reach.values()) and len(reach) < 16  # some targets were reached, not all


def test_the_summary_links_each_cases_own_report(killed_and_resumed):
    from lxml import html as lxml_html

    _, out, _, _, _ = killed_and_resumed
    page = lxml_html.fromstring((out / "report.html").read_text(encoding="utf-8"))
    links = [a.get("href") for a in page.iter("a")]
    assert sorted(links) == ["cases/long/report/report.html", "cases/short/report/report.html"]
    assert all((out / link).is_file() for link in links)
    headings = [h.text_content() for h in page.iter("h2")]
    assert {"Normalised score", "Ranks", "Performance profiles"} <= set(headings)


def test_deleting_one_cases_runs_reruns_that_case_only(killed_and_resumed):
    import shutil

    tmp, out, _, _, _ = killed_and_resumed
    long_before = {name: (run / "trials.jsonl").read_bytes() for name, run in _runs(out, "long").items()}
    shutil.rmtree(out / "cases" / "short" / "runs")
    again = bench(*_suite_args(tmp, out))
    assert again.returncode == 0, error_lines(again.stderr)
    said = [line.strip() for line in again.stdout.splitlines() if line.startswith("  optuna-")]
    runs = [f"optuna-{a}-s{s}" for a in ("qmc", "random") for s in (0, 1)]
    assert said == [*(f"{r}: ok" for r in runs), *(f"{r}: already recorded" for r in runs)]
    assert {name: (run / "trials.jsonl").read_bytes() for name, run in _runs(out, "long").items()} == long_before
    assert all(len(_records(run)) == 3 for run in _runs(out, "short").values())


def test_a_changed_case_definition_is_refused_not_mixed_in(killed_and_resumed, tmp_path):
    tmp, out, _, _, _ = killed_and_resumed
    changed = tmp_path / "suite.yaml"
    changed.write_text(SUITE.replace("trials: 3", "trials: 4"))
    result = bench(*COMMAND, "--suite", str(changed), "--out", str(out))
    assert result.returncode == 2
    assert error_lines(result.stderr) == [f"error: case short: {out / 'cases' / 'short'} holds runs of another definition of it "
                                          "(field 'budget' was {'max_epochs': 2, 'trials': 3}); delete that folder, or pass another --out"]


@pytest.mark.parametrize(("suite", "flags", "message"), [
    (SUITE, ["--trials", "4"], "error: --trials does not go with --suite: each case of the suite sets its own; edit the suite file"),
    (SUITE, ["--target", "0.9"], "error: --target does not go with --suite: its cases have objectives of their own"),
    (SUITE.replace("task: synthetic, budget: {trials: 3}", "task: synthetic, budget: {trails: 3}"), [],
     "error: SUITE: case 'short': budget: unknown key 'trails'; allowed: trials, max_epochs, epoch_budget, time_budget"),
    (SUITE.replace("seeds: 2", "seeds: 0"), [], "error: SUITE: seeds: expected a positive integer, but got 0"),
    ("cases: []\nname: x\n", [], "error: SUITE: 'cases' must be a non-empty list of cases"),
    (SUITE.replace("name: long", "name: short"), [], "error: SUITE: case name 'short' is used twice"),
    (SUITE.replace("task: synthetic, budget: {trials: 6}", "task: nope"), [], "error: unknown task 'nope'"),
    ("name: [unclosed\n", [], "error: SUITE: not a readable YAML file"),
])
def test_a_bad_suite_or_flag_is_one_line_and_leaves_no_folder(tmp_path, suite, flags, message):
    path = tmp_path / "suite.yaml"
    path.write_text(suite)
    result = bench(*COMMAND, "--suite", str(path), "--out", str(tmp_path / "out"), *flags)
    assert result.returncode == 2, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith(message.replace("SUITE", str(path))), lines
    assert not (tmp_path / "out").exists()


def test_quick_and_reference_need_a_suite():
    result = bench("compare", "--quick")
    assert result.returncode == 2 and error_lines(result.stderr) == [
        "error: --quick is for --suite FILE (a comparison across a suite's cases)"]


def test_suite_names_a_missing_file_and_the_shipped_suites(tmp_path):
    result = bench("compare", "--suite", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith("error: --suite '") and "nope.yaml" in line
    assert line.endswith(": no such file, and no shipped suite of that name (shipped: standard)")
