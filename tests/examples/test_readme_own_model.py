"""The README's "Benchmark your own model" example, copied out of the README into a folder outside the repository and
run exactly as written there, with both backends."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from backends.conformance import check_run_invariants
from tests.helpers import ROOT, bench, error_lines


def readme_example() -> tuple[dict[str, str], list[str]]:
    """The files (fenced blocks whose first line is `# NAME`) and the compare command of the README's section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Benchmark your own model", 1)[1].split("\n## ", 1)[0]
    files = {}
    for body in re.findall(r"```(?:python|yaml)\n(.*?)```", section, flags=re.S):
        first, _, _ = body.partition("\n")
        if first.startswith("# ") and "." in first:
            files[first[2:].strip()] = body
    (command,) = [line.strip() for line in section.splitlines() if line.strip().startswith("python -m bench compare --task")]
    return files, shlex.split(command)[3:]  # after "python -m bench"


@pytest.mark.slow
def test_the_readme_example_runs_with_both_backends(tmp_path):
    files, args = readme_example()
    assert set(files) == {"my_task.py", "my_space.yaml"}
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    result = bench(*args, cwd=tmp_path, timeout=900)
    assert result.returncode == 0, error_lines(result.stderr)
    runs_dir = tmp_path / "results" / "my-compare" / "runs"
    runs = [json.loads(p.read_text()) for p in sorted(runs_dir.glob("*/run.json"))]
    assert sorted(r["backend"] for r in runs) == ["keras-tuner", "optuna"]
    for run in runs:
        assert run["status"] == "complete" and run["task"]["name"] == "breast-cancer-mlp" and run["task"]["reference"] == "my_task:task"
        assert run["objective"] == {"metric": "val_auc", "direction": "max"} and run["space"]["name"] == "my_space"
        assert run["task"]["dataset"]["train"] + run["task"]["dataset"]["val"] + run["task"]["dataset"]["test"] == 569
        trials = check_run_invariants(run)  # the backend's own storage agrees with the records
        complete = [t for t in trials if t["state"] == "complete"]
        assert len(trials) == 4 and complete
        for t in complete:
            assert 0.5 < t["val_auc"] == t["objective"] <= 1.0 + 1e-6  # float32 AUC
            assert t["test_auc"] is None or 0.0 < t["test_auc"] <= 1.0 + 1e-6  # scored when the trial was the best so far
        assert 0.0 < run["best_trial"]["test_objective"] <= 1.0 + 1e-6
    assert (tmp_path / "results" / "my-compare" / "report.html").exists()
    assert "val_auc (higher is better)" in (tmp_path / "results" / "my-compare" / "summary.md").read_text()
