"""A third-party backend, found only through its entry point, passes the same contract as the built-ins."""

from __future__ import annotations

import sys

import pytest

from backends.conformance import BackendConformance
from tests.plugin.install import install_plugin


@pytest.fixture(scope="module", autouse=True)
def installed_plugin(tmp_path_factory):
    site = str(install_plugin(tmp_path_factory.mktemp("site")))
    sys.path.insert(0, site)
    yield
    sys.path.remove(site)
    sys.modules.pop("tiny_backend", None)


class TestFirstValuesPlugin(BackendConformance):
    backend = "first-values"
    seeded = False  # always draws the first values, whatever the seed
    writes_to_disk = False  # no storage of its own
