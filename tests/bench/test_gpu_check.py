"""`bench gpu-check`, made for a GPU machine, tried here on CPU with small settings: its figures are the records' own."""

from __future__ import annotations

import json
import re
import statistics

import pytest

from tests.helpers import bench


@pytest.mark.slow
def test_gpu_check_prints_each_backends_epoch_figures_from_its_records_and_compares_with_the_baseline(tmp_path):
    from bench.cli.speed import machine_key

    baselines = tmp_path / "baselines"
    folder = baselines / machine_key()
    folder.mkdir(parents=True)
    unit = [{"label": label, "samples_per_second": 1.0} for label in ("plain fit", "optuna", "keras-tuner")]
    (folder / "gpu-check_20000101-000000_old.json").write_text(json.dumps({"figures": unit}))
    result = bench("gpu-check", "--device", "cpu", "--keras-backend", "tensorflow", "--dataset", "digits", "--space", "small_cnn",
                   "--trials", "2", "--max-epochs", "2", "--train-subset", "300", "--results-dir", str(tmp_path / "runs"),
                   "--baselines", str(baselines), "--save", "new", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {m.group(1): m.groups()[1:] for line in result.stdout.splitlines()
            if (m := re.match(r"^(plain fit|optuna|keras-tuner)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(\S+)\s+(\d+)\s+([\d.]+)x$", line))}
    assert set(rows) == {"plain fit", "optuna", "keras-tuner"}, result.stdout
    for backend in ("optuna", "keras-tuner"):
        trials = [json.loads(line) for run in (tmp_path / "runs").glob(f"gpu-check-*-{backend}")
                  for line in (run / "trials.jsonl").read_text().splitlines()]
        n, first, later, startup, samples, ratio = rows[backend]
        assert int(n) == len(trials) == 2
        assert float(later) == round(statistics.median(s for t in trials for s in t["epoch_seconds"][1:]), 3)
        assert float(startup) == round(statistics.median(t["startup_seconds"] for t in trials), 2)
        assert abs(int(samples) - 270 / float(later)) <= 0.01 * int(samples) + 1  # 300 examples less the 10% validation split
        assert abs(float(ratio) - int(samples)) <= 0.01 * int(samples) + 1  # against a baseline of 1 sample/s
    saved = [p for p in folder.glob("gpu-check_*_new.json")]
    assert len(saved) == 1 and {f["label"] for f in json.loads(saved[0].read_text())["figures"]} == set(rows)
