"""Install the test plugin the way pip would leave it: a module plus a dist-info folder with its entry point."""

from __future__ import annotations

from pathlib import Path

PLUGIN_SOURCE = Path(__file__).resolve().parent / "tiny_backend.py"
TASK_SOURCE = Path(__file__).resolve().parent / "tiny_task.py"


def install_plugin(site: Path) -> Path:
    """Make `site` a folder that, on sys.path or PYTHONPATH, registers backend 'first-values' and task 'plugin-curves'."""
    dist = site / "tunebench_first_values-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tunebench-first-values\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[tunebench.backends]\nfirst-values = tiny_backend:FirstValuesBackend\n\n"
                                           "[tunebench.tasks]\nplugin-curves = tiny_task:plugin_task\n")
    (site / "tiny_backend.py").write_text(PLUGIN_SOURCE.read_text())
    (site / "tiny_task.py").write_text(TASK_SOURCE.read_text())
    return site
