"""GPU workers counted node by node on a real cluster: a node of 1 CPU and 2 GPUs next to a head
of 2 CPUs and no GPU holds one GPU worker, not the min(3 CPUs, 2 GPUs) = 2 that cluster totals
promise; the second could never be placed (the node's one CPU is the first worker's) and the
unit handed to it would be held until the run ended, so the run hung (ray_run.workers_for). A
cluster of its own, in a module of its own: `ray stop` stops every cluster on the machine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.ray.ray_cluster import local_cluster
from tests.ray.test_ray_gpu import _with_plugin, run_probe, site

pytest.importorskip("ray", reason="Ray is the optional extra gapbench[ray]")

__all__ = ["site"]


@pytest.fixture(scope="module")
def more_gpus_than_cpus(site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_cluster(
        tmp_path_factory.mktemp("g2"), head_cpus=2, second_cpus=1, second_gpus=2,
        extra_env=_with_plugin(site),
    ) as address:  # fmt: skip
        yield address


def test_gpu_workers_fit_the_node_that_has_the_gpus(
    more_gpus_than_cpus: str, site: Path, tmp_path: Path
) -> None:
    run_probe(more_gpus_than_cpus, site, tmp_path / "gpu2.db")
