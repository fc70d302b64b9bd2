"""`python -m bench space show|check` on real files."""

import re

import pytest

from tests.helpers import ROOT, bench, error_lines


def test_show_seed_space_has_three_dense_values_in_every_backend():
    result = bench("space", "show", "search_space/spaces/seed_cnn.yaml")
    assert result.returncode == 0, result.stderr
    dense_rows = [line for line in result.stdout.splitlines() if re.search(r"\bdense\b", line)]
    assert len(dense_rows) == 4  # neutral, optuna, keras-tuner, ray-tune
    assert "CategoricalDistribution(choices=(128, 256, 512))" in dense_rows[1]
    assert "hp.Choice('dense', values=[128, 256, 512])" in dense_rows[2]
    assert "tune.choice([128, 256, 512])" in dense_rows[3]
    assert all(re.search(r"│ 3\s+│", row) for row in dense_rows)
    assert "continuous" in result.stdout


@pytest.mark.parametrize("name", ["seed_cnn", "small_cnn", "conditional_cnn"])
def test_check_accepts_shipped_spaces(name):
    result = bench("space", "check", str(ROOT / "search_space" / "spaces" / f"{name}.yaml"))
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def check_refuses(path, text: str) -> tuple[list[str], str]:
    """Write `text` to `path`, run `space check` on it, expect exit 2; return its error lines and raw stderr."""
    path.write_text(text)
    result = bench("space", "check", str(path))
    assert result.returncode == 2
    return error_lines(result.stderr), result.stderr


def test_check_prints_one_line_per_problem_and_exits_2(tmp_path):
    lines, stderr = check_refuses(
        tmp_path / "bad.yaml",
        "parameters:\n"
        "- {name: a, type: int, low: 5, high: 1}\n"
        "- {name: b, type: categorical, choices: [1, 1]}\n"
        "- {name: c, type: float, low: 0.0, high: 1.0, when: {parent: nope, in: [1]}}\n"
        "- {name: d, type: float, low: 0.0, high: 1.0, when: {parent: a, in: [1]}}\n",
    )
    assert len(lines) == 3, lines  # per-parameter problems first, then the space-level ones among the readable parameters
    assert "parameter 'a': `low <= high` must hold" in lines[0] and "Traceback" not in stderr
    assert "parameter 'b': duplicate choice 1" in lines[1]
    assert "parameter 'c': condition on unknown parent 'nope'" in lines[2]  # 'd' names 'a', which is broken already: not repeated


def test_check_reports_backend_refusals(tmp_path):
    path = tmp_path / "log_step.json"
    lines, _ = check_refuses(path, '{"parameters": [{"name": "units", "type": "int", "low": 2, "high": 32, "step": 2, "log": true}]}')
    assert len(lines) == 3
    assert any(line.startswith(f"error: {path}: optuna: cannot express parameter 'units'") for line in lines)
    assert any("keras-tuner: cannot express parameter 'units'" in line for line in lines)
    assert any("ray-tune: cannot express parameter 'units' exactly: Ray has no log-scaled integer grid" in line for line in lines)


def test_invalid_yaml_is_one_line(tmp_path):
    lines, _ = check_refuses(tmp_path / "broken.yaml", "parameters: [ {name: a\n")
    assert len(lines) == 1 and "not valid YAML" in lines[0]


def test_yaml_aliases_that_would_expand_to_millions_of_values_are_refused_in_one_short_line(tmp_path):
    anchors = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcde", "bcdef"):
        anchors.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    text = "\n".join(anchors) + "\nparameters:\n- {name: p, type: categorical, choices: *f}\n"
    assert len(text) < 1024  # a 1 KB file that expands to a million values
    lines, stderr = check_refuses(tmp_path / "bomb.yaml", text)
    assert len(lines) == 1 and len(stderr) < 400, stderr[:400]
    assert "aliases" in lines[0] and "100,000 values" in lines[0]


def test_a_huge_bad_value_is_quoted_as_a_short_excerpt(tmp_path):
    long_name = "n" * 30_000
    lines, stderr = check_refuses(tmp_path / "long.yaml", f"parameters:\n- {{name: {long_name}, type: int, low: 1, high: 2}}\n")
    assert len(lines) == 1 and len(stderr) < 400, stderr[:400]
    assert "name has 30000 characters; at most 100" in lines[0]
    big_list = "[" + ", ".join(["[1, 2]"] * 20_000) + "]"
    lines, stderr = check_refuses(tmp_path / "big.yaml", f"parameters:\n- {{name: c, type: categorical, choices: {big_list}}}\n")
    assert len(lines) == 1 and len(stderr) < 400, stderr[:400]
    assert "choices must be null, bool, int, float or str, but got [1, 2]" in lines[0]
