"""`bench compare --suite`: a suite killed mid-case resumes where it stopped, a deleted case is the only one re-run, and
the aggregated report agrees with counts made directly from the records and with Optuna's own storage."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd
import pytest

from bench.run.environment import process_alive
from tests.helpers import Holds, bench, error_lines, start_bench, wait_for

pytestmark = pytest.mark.xdist_group("suite")  # its module fixtures (a killed suite, the shipped quick suite) run once

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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_the_summary_links_each_cases_own_report(killed_and_resumed):
    from lxml import html as lxml_html

    _, out, _, _, _ = killed_and_resumed
    page = lxml_html.fromstring((out / "report.html").read_text(encoding="utf-8"))
    links = [a.get("href") for a in page.iter("a")]
    assert sorted(links) == ["cases/long/report/report.html", "cases/short/report/report.html"]
    assert all((out / link).is_file() for link in links)
    headings = [h.text_content() for h in page.iter("h2")]
    assert {"Normalised score", "Ranks", "Performance profiles"} <= set(headings)


@pytest.mark.slow
def test_bench_report_rebuilds_the_suites_report_from_its_folder_alone(killed_and_resumed):
    _, out, _, _, _ = killed_and_resumed
    before = {name: (out / "summary" / name).read_text() for name in ("normalised_scores.csv", "ranks.csv", "profile_epochs.csv")}
    (out / "report.html").unlink()
    result = bench("report", str(out))
    assert result.returncode == 0, error_lines(result.stderr)
    assert (out / "report.html").is_file() and f"report: {out / 'report.html'}" in result.stdout
    assert {name: (out / "summary" / name).read_text() for name in before} == before


@pytest.mark.slow
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


@pytest.mark.slow
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
    (SUITE, ["--storage", "postgresql://u@localhost/db"], "error: --storage does not go with --suite: every case's runs keep a study"),
    (SUITE, ["--reference", "optuna:nope"], "error: --reference optuna:nope: optuna has no algorithm 'nope'"),
    (SUITE.replace("budget: {max_epochs: 2}", "budget: {max_epochs: 2}\nquick: {seeds: 1, budgte: {}}"), [],
     "error: SUITE: quick: unknown key 'budgte'; allowed: seeds, budget"),  # checked without --quick too
    (SUITE.replace("name: two-cases", "name: \"two cases\""), [], "error: SUITE: suite name: 'two cases' is not a name"),
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


QUICK = ("compare", "--suite", "standard", "--quick", "--backends", "optuna", "keras-tuner", "--algorithms", "optuna:tpe",
         "optuna:random", "keras-tuner:random", "--reference", "keras-tuner:random")


@pytest.fixture(scope="module")
def shipped_quick_suite(tmp_path_factory):
    """The shipped suite's quick form, really trained: five cases, three algorithms (the reference included), one seed."""
    out = tmp_path_factory.mktemp("quick") / "out"
    result = bench(*QUICK, "--out", str(out), timeout=1200)
    assert result.returncode == 0, error_lines(result.stderr)
    return out, result


@pytest.mark.slow
def test_the_shipped_quick_suite_reports_scores_ranks_and_a_cd_diagram_over_its_cases(shipped_quick_suite):
    from scipy import stats

    out, result = shipped_quick_suite
    cases = ["digits-cnn", "fashion-cnn", "diabetes-mlp", "breast-cancer-mlp", "wine-mlp"]
    scores = pd.read_csv(out / "summary" / "normalised_scores.csv").set_index("label")
    assert sorted(scores.index) == ["keras-tuner/random", "optuna/random", "optuna/tpe"]
    assert [c.removeprefix("score ") for c in scores.columns if c.startswith("score ")] == cases
    # Mean ranks, recomputed with scipy from every run's own best value (run.json + trials.jsonl, not the report's tables).
    bests = {}
    for case in cases:
        for name, run in _runs(out, case).items():
            direction = json.loads((run / "run.json").read_text())["task"]["objective"]["direction"]
            values = [r["objective"] for r in _records(run) if r["state"] == "complete"]
            bests[(case, name)] = (max(values) if direction == "max" else -min(values))
    labels = {"optuna/tpe": "optuna-tpe-s0", "keras-tuner/random": "keras-tuner-random-s0", "optuna/random": "optuna-random-s0"}
    ranks = {label: [] for label in labels}
    for case in cases:
        order = stats.rankdata([-bests[(case, name)] for name in labels.values()])
        for label, rank in zip(labels, order):
            ranks[label].append(rank)
    written = pd.read_csv(out / "summary" / "ranks.csv").set_index("label")
    for label, values in ranks.items():
        assert written.loc[label, "mean rank"] == pytest.approx(sum(values) / len(values)), label
    friedman = pd.read_csv(out / "summary" / "friedman.csv").iloc[0]
    expected = stats.friedmanchisquare(*([bests[(c, labels[label])] for c in cases] for label in labels))
    assert friedman["cases"] == 5 and friedman["Friedman chi2"] == pytest.approx(expected.statistic)
    # Normalised scores, recomputed from the same records: (best - reference) / (case best - reference), signed values.
    for case in cases:
        case_best, reference = max(bests[(case, n)] for n in labels.values()), bests[(case, "keras-tuner-random-s0")]
        for label, name in labels.items():
            expected_score = math.nan if case_best == reference else (bests[(case, name)] - reference) / (case_best - reference)
            assert scores.loc[label, f"score {case}"] == pytest.approx(expected_score, nan_ok=True), (case, label)
    scorable = sum(max(bests[(c, n)] for n in labels.values()) != bests[(c, "keras-tuner-random-s0")] for c in cases)
    assert (scores["cases scored"] == scorable).all() and scorable >= 1
    assert "Friedman:" in result.stdout and "reference added" not in result.stdout  # the reference was listed already


@pytest.mark.slow
def test_the_suite_report_opens_in_a_browser_with_its_diagram_and_profiles(shipped_quick_suite, tmp_path):
    import base64
    import io
    import shutil
    import subprocess

    import matplotlib.image as mpimg
    from lxml import html as lxml_html

    out, _ = shipped_quick_suite
    page = lxml_html.fromstring((out / "report.html").read_text(encoding="utf-8"))
    figures = {img.get("alt"): img.get("src") for img in page.iter("img")}
    assert set(figures) == {"critical-difference diagram", "performance profiles"}
    for alt, src in figures.items():
        assert src.startswith("data:image/png;base64,"), alt
        assert mpimg.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), format="png").std() > 0.01, alt
    assert "no critical-difference diagram" not in page.text_content()
    if not shutil.which("chromium"):
        pytest.skip("headless Chromium is not installed (.ci/run installs it)")
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1300,3000",
                    (out / "report.html").as_uri()], capture_output=True, timeout=120, check=False)
    pixels = mpimg.imread(shot)
    assert pixels.shape[0] >= 2000 and pixels.std() > 0.05


def test_quick_overrides_win_over_the_cases_own_values(tmp_path):
    from bench.suite.spec import load_suite

    path = tmp_path / "suite.yaml"
    path.write_text("""
name: s
seeds: 3
budget: {max_epochs: 4, epoch_budget: 40}
quick: {seeds: 1, budget: {epoch_budget: 6}}
cases:
- {name: big, task: cnn, seeds: 5, budget: {epoch_budget: 100}, train_subset: 900, quick: {train_subset: 300}}
- {name: plain, task: mlp-regression, quick: {budget: {max_epochs: 2}}}
""")
    full, quick = load_suite(str(path)), load_suite(str(path), quick=True)
    assert [(c.seeds, dict(c.budget), c.train_subset) for c in full.cases] == [
        (5, {"max_epochs": 4, "epoch_budget": 100}, 900), (3, {"max_epochs": 4, "epoch_budget": 40}, None)]
    assert [(c.seeds, dict(c.budget), c.train_subset) for c in quick.cases] == [
        (1, {"max_epochs": 4, "epoch_budget": 6}, 300), (1, {"max_epochs": 2, "epoch_budget": 6}, None)]
    assert quick.cases[0].run_flags() == ["--task", "cnn", "--train-subset", "300", "--max-epochs", "4", "--epoch-budget", "6"]


def test_the_shipped_suite_has_five_offline_cases_and_a_small_quick_form():
    import yaml

    from bench.suite.spec import SHIPPED_DIR, load_suite

    raw = yaml.safe_load((SHIPPED_DIR / "standard.yaml").read_text())
    full, quick = load_suite("standard"), load_suite("standard", quick=True)
    assert [c.name for c in full.cases] == [c["name"] for c in raw["cases"]] and len(full.cases) >= 5
    assert {c.task for c in full.cases} >= {"cnn", "mlp-regression", "mlp-classification"}
    assert {c.dataset for c in full.cases if c.task == "cnn"} == {"digits", "fashion_mnist"}
    assert all(c.seeds == raw["seeds"] and dict(c.budget) == raw["budget"] for c in full.cases)
    assert all(c.seeds == 1 and c.budget["epoch_budget"] <= 6 for c in quick.cases)


@pytest.mark.slow
def test_ctrl_c_stops_the_suite_at_once_and_the_same_command_finishes_it(tmp_path):
    import signal
    import subprocess
    import sys

    from tests.helpers import ROOT

    (tmp_path / "suite.yaml").write_text(SUITE)
    out = tmp_path / "out"
    holds = Holds(tmp_path / "holds", (4, 1))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **holds.env}
    suite = subprocess.Popen([sys.executable, "-m", "bench", *_suite_args(tmp_path, out)], cwd=ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)  # a terminal's own group
    holds.wait(4, 1)
    os.killpg(suite.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group: the suite and its run
    holds.release_all()
    suite.communicate(timeout=120)
    assert suite.returncode == 130
    runs = _runs(out, "long")
    assert list(runs) == ["optuna-qmc-s0"]  # no further run was started after Ctrl-C
    assert json.loads((runs["optuna-qmc-s0"] / "run.json").read_text())["status"] == "interrupted"
    kept = _records(runs["optuna-qmc-s0"])
    again = bench(*_suite_args(tmp_path, out))
    assert again.returncode == 0, error_lines(again.stderr)
    finished = _records(_runs(out, "long")["optuna-qmc-s0"])
    assert finished[: len(kept)] == kept and sorted(r["number"] for r in finished) == list(range(6))
    assert len(_runs(out, "long")) == 4
