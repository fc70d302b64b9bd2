"""`bench speed`: run the pytest-benchmark suite, print a table, save or gate on a per-machine baseline."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.errors import UsageError

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding `bench` (a checkout, or site-packages once installed)
SUITE = PACKAGE_ROOT / "bench" / "speed" / "suite"  # shipped with the package: `bench speed` works after `pip install`
CONFIDENCE_TEXT = "95%"  # bench.speed.gate.CONFIDENCE, as printed
BASELINES = Path("results") / "baselines"  # under the folder the command runs in, unless --baselines names another


def machine_key() -> str:
    """Baselines are kept per machine: CPU model plus GPU names, as a folder name."""
    from bench.run.environment import cpu_name, gpu_names

    text = "-".join([cpu_name(), *gpu_names()]) or "unknown"
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:80]


def _percent(text: str) -> int:
    match = re.fullmatch(r"(\d+)%?", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a percentage such as 15%, got '{text}'")
    return int(match.group(1))


def _rounds_cap(text: str) -> int:
    if not text.isdigit() or int(text) < 2:
        raise argparse.ArgumentTypeError(f"expected a whole number of rounds of at least 2, got '{text[:20]}'")
    return int(text)


def _latest_baseline(storage: Path, name: str) -> Path:
    found = sorted(storage.glob(f"*/*_{name}.json"))
    if not found:
        raise UsageError(f"no baseline '{name}' for this machine under {storage}; record one with `python -m bench speed --save {name}`")
    return found[-1]


def pytest_command(args: argparse.Namespace, json_out: Path, only: list[str] | None = None) -> list[str]:
    """The speed suite under pytest-benchmark: every measure (or those `--select` picks), or the `only` ones again (their
    full names, to add rounds to an undecided gate)."""
    storage = Path(args.baselines).absolute() / machine_key()
    targets = [str(SUITE / name) for name in only] if only else [str(SUITE)]
    command = [sys.executable, "-m", "pytest", *targets, "-q", "-p", "no:cacheprovider", "-o", "addopts=", f"--rootdir={SUITE}",
               f"--benchmark-storage=file://{storage}", f"--benchmark-json={json_out}", "--benchmark-columns=mean,min,max,rounds",
               "--benchmark-sort=fullname"]
    if args.select and not only:
        command += ["-k", args.select]
    if args.save and not only:
        command += [f"--benchmark-save={args.save}", "--benchmark-save-data"]  # every round kept: the gate's interval reads them
    if args.compare:  # pytest-benchmark's own comparison table (--verbose); the decision is the interval gate's
        command.append(f"--benchmark-compare={_latest_baseline(storage, args.compare)}")
    return command


def _read_json(path: Path) -> dict[str, Any]:
    """pytest-benchmark's JSON output; {} when it wrote none or nothing readable (the suite failed to start)."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _rounds(bench: dict[str, Any]) -> Any:
    from bench.speed.gate import Rounds

    if bench.get("stats", {}).get("data"):
        return Rounds.of(bench["stats"]["data"])
    stats = bench["stats"]
    return Rounds.from_stats(stats["mean"], stats.get("stddev") or 0.0, int(stats["rounds"]))


def gate_against_baseline(args: argparse.Namespace, data: dict[str, Any], env: dict[str, str]) -> tuple[list[tuple[str, Any]], bool]:
    """Each measure of `data` against the same measure of the baseline: its interval gate, the measures whose interval
    straddles the limit run again (all together, in a fresh pytest) until each decides or has `--max-rounds` rounds."""
    from bench.speed.gate import decide_against_baseline

    storage = Path(args.baselines).absolute() / machine_key()
    baseline_file = _latest_baseline(storage, args.compare)
    saved = _read_json(baseline_file)
    if not saved.get("benchmarks"):
        raise UsageError(f"baseline '{args.compare}' ({baseline_file}) holds no measures pytest-benchmark can read; save it again")
    baseline = {b["fullname"]: b for b in saved["benchmarks"]}
    now = {b["fullname"]: _rounds(b) for b in data.get("benchmarks", []) if b["fullname"] in baseline}
    for name in sorted(b["fullname"] for b in data.get("benchmarks", []) if b["fullname"] not in baseline):
        print(f"gate {name.split('::')[-1].removeprefix('test_')}: not gated: baseline '{args.compare}' has no such measure "
              "(new, or renamed since it was saved)")
    limit = 1 + args.fail_above / 100
    at_cap: set[str] = set()  # measures that could not run again: decided on the rounds they have
    failed_again = False
    while True:
        decisions = {name: decide_against_baseline(rounds, _rounds(baseline[name]), limit,
                                                   cap=min(args.max_rounds, rounds.n) if name in at_cap else args.max_rounds)
                     for name, rounds in now.items()}
        undecided = sorted(name for name, d in decisions.items() if d.verdict == "undecided")
        if not undecided:
            return [(name, decisions[name]) for name in sorted(decisions)], failed_again
        print(f"gate undecided for {len(undecided)} measure(s) (the interval straddles the limit): measuring again", file=sys.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            json_out = Path(tmp) / "again.json"
            again_run = subprocess.run(pytest_command(args, json_out, only=undecided), cwd=tmp, env=env, capture_output=True, text=True,
                                       check=False)
            again = {b["fullname"]: b for b in _read_json(json_out).get("benchmarks", [])}
        for line in again_run.stdout.splitlines():
            if line.startswith("FAILED"):
                failed_again = True
                print(f"error: measuring again: {line}", file=sys.stderr)
        for name in undecided:
            if name in again and again[name]["stats"].get("data"):
                now[name] = now[name].plus(again[name]["stats"]["data"])
            else:  # it failed to run again: decided on the rounds it has (no rounds are made up)
                at_cap.add(name)


def measures_table(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info", {})
        value, unit = info.get("value"), info.get("unit", "s")
        if not isinstance(value, (int, float)):  # the test failed before it could state its measure: raw mean seconds
            value, unit = bench["stats"]["mean"], "s (mean time; the measure's own check failed)"
        shown = f"{value:.3f}"
        if "raw_wall_ratio" in info:
            added, trials = info["harness_added_seconds"], info.get("trials", 1)
            unit += (f" (raw wall ratio {info['raw_wall_ratio']:.3f}; +{added:.2f} s on {info['hand_seconds']:.1f} s, "
                     f"{1000 * added / trials:.0f} ms per trial")
            if "pairs_added_seconds" in info:
                unit += f"; pairs: {', '.join(f'{v:+.2f}' for v in info['pairs_added_seconds'])} s"
            if "interval" in info:
                unit += f"; 95% interval [{info['interval'][0]:.3f}, {info['interval'][1]:.3f}], {info['gate'].split(':')[0]}"
            if "trial_startup_seconds" in info:
                unit += f"; trial start-up {info['trial_startup_seconds']:.2f} s, {100 * info['startup_share']:.0f}% of training"
            unit += ")"
        if "first_epoch_seconds" in info:
            unit += f" (first epoch {info['first_epoch_seconds']:.2f} s, later {info['later_epoch_seconds']:.2f} s)"
        if "first_tenth_ms" in info:
            unit += (f" ({info['n_trials']} trials in {info['command_seconds']:.0f} s: backend {info['backend_ms']:.1f} + tunebench "
                     f"{info['harness_ms']:.1f} ms; first tenth {info['first_tenth_ms']:.1f}, last tenth {info['last_tenth_ms']:.1f} ms; "
                     f"process start-up {info.get('process_startup_seconds', float('nan')):.1f} s)")
        rows.append((bench["name"].removeprefix("test_"), shown, unit))
    return rows


def cmd_speed(args: argparse.Namespace, argv: list[str]) -> int:
    # The suite's own pytest options only: a caller's PYTEST_ADDOPTS, or the variables of a pytest-xdist worker that runs
    # this command, would make pytest-benchmark switch itself off and write no measures.
    inherited = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS" and not k.startswith("PYTEST_XDIST_")}
    env = {**inherited, "TUNEBENCH_SPEED_QUICK": "1" if args.quick else "0",
           "PYTHONPATH": str(PACKAGE_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "-1")}
    with tempfile.TemporaryDirectory() as tmp:
        json_out = Path(tmp) / "speed.json"
        command = pytest_command(args, json_out)
        # Run where pytest finds no project settings of the user's (their pytest.ini, conftest.py): the suite's own only.
        proc = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, check=False)
        data = _read_json(json_out)
    output = proc.stdout + proc.stderr
    if args.verbose or (proc.returncode != 0 and not data):
        print(output)
    rows = measures_table(data)
    if rows:
        width = max(len(r[0]) for r in rows)
        print(f"{'measure':<{width}}  {'value':>12}  unit")
        for name, value, unit in rows:
            print(f"{name:<{width}}  {value:>12}  {unit}")
    if args.save and proc.returncode == 0:
        print(f"baseline '{args.save}' saved under {Path(args.baselines).absolute() / machine_key()}")
    regressed = False
    if args.compare and data:
        decisions, failed_again = gate_against_baseline(args, data, env)
        regressed = failed_again
        for name, decision in decisions:
            shown = name.split("::")[-1].removeprefix("test_")
            print(f"gate {shown}: {decision.text()}")
            if decision.verdict == "fail":
                regressed = True
                print(f"error: regressed: {shown}: {100 * (decision.mean - 1):.1f}% slower ({CONFIDENCE_TEXT} interval "
                      f"{100 * (decision.low - 1):.1f}% to {100 * (decision.high - 1):.1f}%; limit {args.fail_above}%, "
                      f"{len(decision.ratios)} rounds against baseline '{args.compare}')", file=sys.stderr)
    failed = [line for line in output.splitlines() if line.startswith("FAILED")]
    for line in failed:
        print(f"error: {line}", file=sys.stderr)
    if regressed:
        return 1
    return 0 if proc.returncode == 0 else 1


def add_parser(sub: Any) -> None:
    speed = sub.add_parser("speed", help="tuning-speed suite: backend overhead, trial start-up, throughput, harness ratio")
    speed.add_argument("--quick", action="store_true", help="fewer trials and rounds (a smoke check, minutes on a CPU)")
    speed.add_argument("--save", metavar="NAME", help="keep this run as baseline NAME for this machine (results/baselines/)")
    speed.add_argument("--compare", metavar="NAME", help="compare against baseline NAME of this machine")
    speed.add_argument("--fail-above", type=_percent, default=15, metavar="PCT",
                       help="with --compare: fail a measure whose whole 95%% interval of now/baseline lies above this (default 15%%)")
    speed.add_argument("--max-rounds", type=_rounds_cap, default=5, metavar="N",
                       help="with --compare: run a measure whose interval straddles the limit again, up to N rounds (default 5)")
    speed.add_argument("--baselines", default=str(BASELINES), metavar="DIR", help="where baselines are kept (default ./results/baselines)")
    speed.add_argument("--select", metavar="EXPR", help="only measures matching this pytest -k expression")
    speed.add_argument("--verbose", action="store_true", help="also print pytest-benchmark's own output")
    speed.set_defaults(handler=cmd_speed)


def cmd_gpu_check(args: argparse.Namespace, argv: list[str]) -> int:
    from bench.speed import gpu_check

    folder = Path(args.baselines) / machine_key()
    result = gpu_check.run_check(backends=args.backends, dataset=args.dataset, data_dir=args.data_dir, space=args.space, trials=args.trials,
                                 max_epochs=args.max_epochs, device=args.device, keras_backend=args.keras_backend,
                                 train_subset=args.train_subset, steps_per_execution=args.steps_per_execution,
                                 jit_compile=args.jit_compile, results_dir=Path(args.results_dir))
    print(gpu_check.table(result, gpu_check.latest_baseline(folder)))
    print("plain fit: the space's first configuration; the backends: the configurations they drew (epoch times differ with them)")
    if args.save:
        print(f"baseline saved: {gpu_check.save_baseline(folder, args.save, result)}")
    return 0


def add_gpu_check_parser(sub: Any) -> None:
    from bench.cli.flags import positive_int

    check = sub.add_parser("gpu-check", help="both backends on one GPU next to a plain fit: epoch seconds, start-up, samples/s")
    check.add_argument("--backends", nargs="+", default=["optuna", "keras-tuner"], metavar="NAME", help="default: optuna keras-tuner")
    check.add_argument("--device", default="gpu:0", help="gpu:N (default gpu:0), or cpu to try the check itself")
    check.add_argument("--keras-backend", default="jax", choices=["jax", "tensorflow", "torch"], help="default jax")
    check.add_argument("--dataset", default="fashion_mnist", help="default fashion_mnist (Debian's files, or --data-dir)")
    check.add_argument("--data-dir", help="folder of the dataset's IDX files")
    check.add_argument("--space", default="seed_cnn", help="default seed_cnn (the tutorial's space)")
    check.add_argument("--train-subset", type=positive_int, metavar="N")
    check.add_argument("--trials", type=positive_int, default=3, help="per backend (default 3)")
    check.add_argument("--max-epochs", type=positive_int, default=4, help="per trial (default 4; 2+ to tell start-up from training)")
    check.add_argument("--steps-per-execution", type=positive_int, metavar="N")
    check.add_argument("--jit-compile", choices=["auto", "on", "off"], default="auto")
    check.add_argument("--results-dir", default="results", help="where the backends' run folders go (default results/)")
    check.add_argument("--save", metavar="NAME", help="keep the figures as a baseline for this machine (its CPU and GPU names)")
    check.add_argument("--baselines", default=str(BASELINES), metavar="DIR", help="default ./results/baselines")
    check.set_defaults(handler=cmd_gpu_check)
