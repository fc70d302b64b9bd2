"""Reports rebuilt from real recorded runs: numbers checked against the runs, pictures checked as pictures."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backends.conformance import run_in_process
from bench.errors import UsageError
from bench.report.build import build_report
from bench.report.load import load_runs
from bench.report.stats import min_seeds_for_wilcoxon, paired_test, seed_interval
from tests.helpers import bench, error_lines

pytestmark = pytest.mark.xdist_group("report")  # its module fixtures run once, on one of pytest-xdist's workers

SEEDS = 2
TARGET = 0.4


@pytest.fixture(scope="module")
def compared(tmp_path_factory) -> tuple[Path, object]:
    """`bench compare` as a user runs it: Optuna TPE and KerasTuner random search, two seeds, on the synthetic task
    (the report is under test here, not training: tests/bench trains for real)."""
    out = tmp_path_factory.mktemp("compare")
    result = bench("compare", "--backends", "optuna", "keras-tuner", "--seeds", str(SEEDS), "--jobs", "2", "--trials", "3",
                   "--max-epochs", "3", "--task", "synthetic", "--out", str(out), "--target", str(TARGET), timeout=900)
    return out, result


@pytest.fixture(scope="module")
def recorded(compared) -> Path:
    return compared[0] / "runs"


@pytest.fixture(scope="module")
def report(recorded, tmp_path_factory):
    return build_report([recorded], tmp_path_factory.mktemp("report"), target=TARGET, views=False)  # compare drew the views


def _run_jsons(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*/run.json"))]


@pytest.mark.slow
def test_summary_numbers_match_the_recorded_runs(recorded, report):
    runs = _run_jsons(recorded)
    summary = report.summary.set_index("label")
    for label, backend in (("optuna/tpe", "optuna"), ("keras-tuner/random", "keras-tuner")):
        mine = [r for r in runs if r["backend"] == backend]
        best = [r["best_trial"]["objective"] for r in mine]
        assert all(r["best_trial"]["val_score"] == r["best_trial"]["objective"] for r in mine)  # under its own name too
        row = summary.loc[label]
        assert row["seeds"] == SEEDS
        assert row["best_val_mean"] == pytest.approx(np.mean(best))
        assert row["test_mean"] == pytest.approx(np.mean([r["best_trial"]["test_objective"] for r in mine]))
        assert row["disk_peak_max"] == max(r["disk_bytes_peak"] for r in mine)
        assert row["disk_peak_mean"] == pytest.approx(np.mean([r["disk_bytes_peak"] for r in mine]))
        assert row["epochs_mean"] == pytest.approx(np.mean([r["budget_spent"]["epochs"] for r in mine]))
        assert row["complete"] + row["pruned"] + row["failed"] == 3 * SEEDS
        # Two seeds: the interval is the range of the values seen, and says so.
        assert (row["best_val_low"], row["best_val_high"]) == (min(best), max(best))
        assert row["interval"] == f"min–max over {SEEDS} seeds"
        epochs = np.mean([r["budget_spent"]["epochs"] for r in mine])  # below 9 where a trial diverged early
        assert row["budget"].startswith(f"3/3 trials, {epochs:g}/∞ epochs")
        assert row["memory_peak_mean"] == pytest.approx(np.mean([r["memory_peak_bytes"] for r in mine]))
        slopes = []
        for r in mine:  # an independent fit: numpy's least squares on the recorded resident memory
            trials = [json.loads(line) for line in (Path(r["folder"]) / "trials.jsonl").read_text().splitlines()]
            slopes.append(np.polyfit([t["number"] for t in trials], [t["memory_rss_bytes"] for t in trials], 1)[0])
        assert row["memory_growth_per_trial_mean"] == pytest.approx(np.mean(slopes), rel=1e-6)
        shares = []
        for r in mine:  # start-up share recomputed with pandas from each trial's epoch times and build seconds
            frame = pd.read_json(Path(r["folder"]) / "trials.jsonl", lines=True)
            frame = frame[frame["epoch_seconds"].map(len) >= 2]
            first_extra = frame["epoch_seconds"].map(lambda e: max(0.0, e[0] - float(np.median(e[1:]))))
            shares.append((frame["build_seconds"] + first_extra).sum() / (frame["build_seconds"] + frame["train_seconds"]).sum())
        assert row["startup_share_mean"] == pytest.approx(np.mean(shares), rel=1e-3, abs=1e-4)
    assert sorted(report.summary["rank"]) == [1, 2]
    assert report.summary.iloc[0]["best_val_mean"] >= report.summary.iloc[1]["best_val_mean"]


@pytest.mark.slow
def test_time_to_target_is_the_first_trial_reaching_it(recorded, report):
    firsts = []
    for run_dir in sorted(recorded.glob("optuna-tpe-*")):
        trials = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
        hits = [t["finished_at_seconds"] for t in trials if t["state"] == "complete" and t["objective"] >= TARGET]
        if hits:
            firsts.append(min(hits))
    row = report.summary.set_index("label").loc["optuna/tpe"]
    assert firsts, f"target {TARGET} must be reached by some run for this test to say anything"
    assert row["target_reached"] == f"{len(firsts)}/{SEEDS}"
    assert row["time_to_target_mean"] == pytest.approx(np.mean(firsts))


@pytest.mark.slow
def test_tables_are_written_in_three_formats_that_agree_and_reproducible(recorded, report, tmp_path):
    """Each table's Markdown, CSV and HTML hold the same cells (read back with pandas and a Markdown split); a report
    rebuilt from copies of the run folders, listed in the other order, writes the same files."""
    from io import StringIO

    for name in ("summary", "significance_val", "runs"):
        csv = pd.read_csv(report.out_dir / f"{name}.csv", dtype=str, keep_default_na=False)
        html = pd.read_html(StringIO((report.out_dir / f"{name}.html").read_text()), keep_default_na=False)[0].astype(str)
        md_rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
                   for line in (report.out_dir / f"{name}.md").read_text().splitlines() if line.startswith("|")]
        assert list(html.columns) == list(csv.columns) == md_rows[0], name
        assert len(html) == len(csv) == len(md_rows) - 2 > 0, name  # the Markdown's second row is its rule
        for column in ("label", "backend/algorithm", "run_id", "seeds"):
            if column in csv:
                assert list(html[column]) == list(csv[column]) == [row[list(csv.columns).index(column)] for row in md_rows[2:]], (name, column)
    copies = [shutil.copytree(run, tmp_path / "copies" / run.name) for run in sorted(recorded.iterdir(), reverse=True) if (run / "run.json").exists()]
    build_report(copies, tmp_path / "again", target=TARGET, views=False)
    for name in ("summary.md", "summary_numbers.csv", "significance_val.csv"):
        assert (tmp_path / "again" / name).read_text() == (report.out_dir / name).read_text()


@pytest.mark.slow
def test_significance_refuses_to_claim_anything_with_two_seeds(report):
    row = report.significance.iloc[0]
    assert row["paired seeds"] == SEEDS
    assert "too few seeds" in row["verdict"]


@pytest.mark.slow
def test_plots_are_real_pictures_with_labelled_axes(report):
    import matplotlib.image as mpimg

    expected = {"best_vs_time": "wall time (s)", "best_vs_epochs": "epochs spent", "accuracy_distribution": "backend/algorithm",
                "disk_usage": "log scale", "disk_growth": "trial number", "time_split": "seconds per run", "param_importance": "parameter",
                "memory_growth": "resident memory"}
    for name, axis_label in expected.items():
        png, svg = report.files[name]
        pixels = mpimg.imread(png)
        assert pixels.shape[0] > 200 and pixels.shape[1] > 300 and pixels.std() > 0.01, name
        text = svg.read_text()
        assert axis_label in text, (name, axis_label)


@pytest.mark.slow
def test_optuna_views_exist_for_keras_tuner_runs_and_show_their_trials(compared, recorded):
    views = compared[0] / "optuna_views"
    for view in ("optimization_history", "parallel_coordinate", "slice", "param_importances"):
        assert (views / f"keras-tuner-random-s0_{view}.png").stat().st_size > 5000
    from bench.report.optuna_views import study_from_trials

    run = json.loads((recorded / "keras-tuner-random-s0" / "run.json").read_text())
    trials = [json.loads(line) for line in (recorded / "keras-tuner-random-s0" / "trials.jsonl").read_text().splitlines()]
    study = study_from_trials(run["space"], trials, "kt")
    assert len(study.trials) == len(trials)
    assert [t.params["units"] for t in study.trials] == [t["params"]["units"] for t in trials]
    assert study.best_value == run["best_trial"]["objective"]


@pytest.mark.slow
def test_report_html_holds_tables_pictures_and_guide(compared):
    page = (compared[0] / "report.html").read_text()
    assert "How to read this report" in page and "<table" in page
    assert page.count("data:image/png;base64,") >= 7 + 2 * SEEDS * 4  # the plots, and four Optuna views per run
    assert "src=\"http" not in page and "<script" not in page  # opens offline


@pytest.mark.skipif(not shutil.which("chromium"), reason="headless Chromium is not installed")
@pytest.mark.slow
def test_report_html_renders_in_headless_chromium(report, tmp_path):
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,2000",
                    report.html.as_uri()], capture_output=True, timeout=120, check=False)
    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)
    assert pixels.shape[0] >= 1000 and pixels.std() > 0.05


@pytest.mark.slow
def test_cut_off_last_line_is_skipped_and_said(recorded, tmp_path):
    copy = tmp_path / "runs"
    shutil.copytree(recorded / "optuna-tpe-s0", copy / "optuna-tpe-s0")
    trials = copy / "optuna-tpe-s0" / "trials.jsonl"
    text = trials.read_text()
    trials.write_text(text + text.splitlines()[0][:40])
    runset = load_runs([copy])
    assert len(runset.trials) == 3
    assert any("line 4 is cut off" in note for note in runset.notes)


@pytest.mark.parametrize(("field", "change"), [
    ("budget", lambda run: run["budget"].update(max_epochs=5)),
    ("machine", lambda run: run["machine"].update(cpu="another CPU")),
    ("concurrent_runs", lambda run: run.update(concurrent_runs=1)),
])
@pytest.mark.slow
def test_runs_that_differ_are_refused_unless_allowed(recorded, tmp_path, field, change):
    copy = tmp_path / "runs"
    shutil.copytree(recorded / "optuna-tpe-s0", copy / "a")
    shutil.copytree(recorded / "optuna-tpe-s1", copy / "b")
    run = json.loads((copy / "b" / "run.json").read_text())
    change(run)
    (copy / "b" / "run.json").write_text(json.dumps(run))
    with pytest.raises(UsageError, match=f"runs differ in '{field}'"):
        load_runs([copy])
    assert any("mixed runs" in n for n in load_runs([copy], allow_mixed=True).notes)


@pytest.mark.slow
def test_report_cli_bad_input_is_one_line_exit_2(recorded, tmp_path):
    empty = bench("report", str(tmp_path))
    assert empty.returncode == 2 and error_lines(empty.stderr) == [f"error: no runs found (no run.json under {tmp_path}); run `python -m bench run` or `compare` first"]
    unknown = bench("compare", "--backends", "optuna", "hyperopt", "--seeds", "1", "--results-dir", str(tmp_path))
    assert unknown.returncode == 2 and len(error_lines(unknown.stderr)) == 1 and "unknown backend 'hyperopt'" in unknown.stderr
    no_task = bench("compare", "--task", "nope", "--seeds", "1", "--results-dir", str(tmp_path))
    assert no_task.returncode == 2 and error_lines(no_task.stderr) == [
        "error: unknown task 'nope'; known: cnn, mlp-regression, mlp-classification, synthetic, or module:attribute for your own (see `python -m bench list`)"]
    good = bench("report", str(recorded / "optuna-tpe-s0"), "--out", str(tmp_path / "r"), "--quiet")
    assert good.returncode == 0, good.stderr
    assert (tmp_path / "r" / "report.html").exists()


def test_paired_test_finds_a_real_difference_with_enough_seeds():
    needed = min_seeds_for_wilcoxon(0.05)
    assert needed == 6
    seeds = pd.Index(range(8), name="seed")
    better = pd.Series([0.91, 0.93, 0.92, 0.95, 0.94, 0.92, 0.93, 0.96], index=seeds)
    worse = better - np.linspace(0.01, 0.03, 8)
    result = paired_test("a", "b", better, worse)
    assert result.p_value < 0.05 and result.verdict.startswith("a better")
    few = paired_test("a", "b", better.iloc[:5], worse.iloc[:5])
    assert "too few seeds" in few.verdict


def test_intervals_say_what_they_are():
    one = seed_interval([0.9])
    assert np.isnan(one.low) and "no interval" in one.kind
    few = seed_interval([0.8, 0.95, 0.9, 0.85])
    assert (few.low, few.high, few.kind) == (0.8, 0.95, "min–max over 4 seeds")
    # From 5 seeds a BCa bootstrap: on a sample of 40 it agrees with the t interval of the mean (scipy's t, computed apart).
    from scipy import stats

    sample = np.random.default_rng(1).normal(0.9, 0.02, size=40)
    many = seed_interval(sample)
    t_low, t_high = stats.t.interval(0.95, len(sample) - 1, loc=sample.mean(), scale=stats.sem(sample))
    assert many.kind == "95% BCa bootstrap of the mean, n=40"
    width = t_high - t_low
    assert abs(many.low - t_low) < 0.15 * width and abs(many.high - t_high) < 0.15 * width


@pytest.mark.slow
def test_best_so_far_never_goes_down_and_is_averaged_only_where_every_seed_has_a_value(recorded, report):
    from bench.report.plots import best_so_far_on_grid, mean_where_every_seed_has_a_value

    trials = report.runset.trials
    curves = best_so_far_on_grid(trials, "finished_at_seconds")
    means = mean_where_every_seed_has_a_value(curves, trials, "finished_at_seconds")
    grid = np.sort(curves["finished_at_seconds"].unique())
    for label, prefix in (("optuna/tpe", "optuna-tpe"), ("keras-tuner/random", "keras-tuner-random")):
        firsts = []  # from the records alone: when each seed's first complete trial finished
        for run_dir in sorted(recorded.glob(f"{prefix}-s*")):
            done = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
            firsts.append(min(t["finished_at_seconds"] for t in done if t["state"] == "complete"))
        mine = means[means["label"] == label]
        assert len(mine) > 0 and (np.diff(mine["mean"].to_numpy()) >= -1e-12).all(), "a mean best-so-far went down"
        start = mine["finished_at_seconds"].min()
        assert start >= max(firsts) and start == grid[grid >= max(firsts)].min()
        assert set(mine["seeds"]) == {SEEDS}


@pytest.mark.slow
def test_compare_cli_runs_the_matrix_and_writes_the_report(compared):
    out, result = compared
    assert result.returncode == 0, result.stdout + result.stderr
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == [f"{b}-s{s}" for b in ("keras-tuner-random", "optuna-tpe") for s in range(SEEDS)]
    summary = pd.read_csv(out / "summary_numbers.csv")
    assert sorted(summary["label"]) == ["keras-tuner/random", "optuna/tpe"] and set(summary["seeds"]) == {SEEDS}
    for name in ("best_vs_time", "best_vs_epochs", "accuracy_distribution", "disk_usage", "disk_growth", "time_split", "param_importance",
                 "memory_growth"):
        assert (out / "plots" / f"{name}.png").exists() and (out / "plots" / f"{name}.svg").exists()
    assert (out / "report.html").exists() and "report:" in result.stdout
    assert {r["concurrent_runs"] for r in _run_jsons(out / "runs")} == {2}  # --jobs 2
    assert "made up to 2 at a time" in (out / "report.html").read_text()


@pytest.mark.slow
def test_report_rebuilt_from_the_runs_alone_matches_the_compare_report(compared, report):
    out, _ = compared
    for name in ("summary.md", "summary_numbers.csv", "significance_val.csv", "significance_test.csv"):
        assert (report.out_dir / name).read_text() == (out / name).read_text(), name


@pytest.fixture(scope="module")
def regression_runs(tmp_path_factory) -> Path:
    """mlp-regression, really trained, with both backends: validation MSE is minimised."""
    runs = tmp_path_factory.mktemp("regression")
    for backend in ("optuna", "keras-tuner"):  # in this process: TensorFlow is imported once
        run_in_process(runs, backend=backend, task="mlp-regression", trials=3, max_epochs=4)
    return runs


@pytest.mark.slow
def test_regression_task_is_minimised_and_the_report_ranks_lower_first(regression_runs, tmp_path):
    runs = _run_jsons(regression_runs)
    assert {r["backend"] for r in runs} == {"optuna", "keras-tuner"}
    for run in runs:
        assert run["objective"] == {"metric": "val_mse", "direction": "min"} and run["task"]["name"] == "mlp-regression"
        trials = [json.loads(line) for line in (Path(run["folder"]) / "trials.jsonl").read_text().splitlines()]
        complete = [t for t in trials if t["state"] == "complete"]
        # Each trial's objective is its lowest validation MSE, at its best epoch; the run's best is the lowest of them.
        for t in complete:
            assert t["objective"] == min(t["objective_per_epoch"]) == t["val_mse"]
            assert t["best_epoch"] == t["objective_per_epoch"].index(t["objective"]) + 1
            assert t["test_objective"] == t["test_mse"] and (t["test_objective"] is None or t["test_objective"] > 0)
        assert run["best_trial"]["objective"] == min(t["objective"] for t in complete) and run["best_trial"]["test_objective"] > 0
        # Read back from the backend's own storage: Optuna's study direction, KerasTuner's oracle objective.
        if run["backend"] == "optuna":
            import optuna

            from backends.optuna_storage import JOURNAL_FILE, journal_storage

            study = optuna.load_study(study_name=run["run_id"], storage=journal_storage(Path(run["work_dir"]) / JOURNAL_FILE))
            assert study.direction == optuna.study.StudyDirection.MINIMIZE
            assert study.best_value == pytest.approx(run["best_trial"]["objective"])
        else:
            for path in Path(run["work_dir"]).glob("*/trial_*/trial.json"):  # KerasTuner's own trial files
                assert json.loads(path.read_text())["metrics"]["metrics"]["val_mse"]["direction"] == "min"
    report = build_report([regression_runs], tmp_path / "report", views=False)
    summary = report.summary
    assert list(summary["best_val_mean"]) == sorted(summary["best_val_mean"])  # lower is better: rank 1 has the lowest MSE
    assert list(summary["rank"]) == [1, 2]
    best_by_label = {f"{r['backend']}/{r['algorithm']}": r["best_trial"]["objective"] for r in runs}
    assert summary.iloc[0]["label"] == min(best_by_label, key=best_by_label.get)
    assert any("val_mse (lower is better)" in column for column in report.display.columns)


@pytest.mark.slow
def test_runs_of_different_tasks_are_never_ranked_together(recorded, regression_runs, tmp_path):
    with pytest.raises(UsageError, match="runs differ in 'task'"):
        load_runs([recorded, regression_runs])
    with pytest.raises(UsageError, match="different objectives"):
        load_runs([recorded, regression_runs], allow_mixed=True)
