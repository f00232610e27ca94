"""`gapbench run --ray` with a backend that needs a GPU: its workers go to the node that has one,
and never more of them than the cluster has GPUs (a worker Ray cannot place would hold its units
until the run ends). First how many workers each cluster gets, then a real two-node cluster whose
second node declares a logical GPU, running a plugin backend that takes one."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers import stored_samples
from tests.ray.ray_cluster import local_cluster

from gapbench import ray_run
from gapbench.backends.registry import BackendOptions, backend_entry
from gapbench.backends.scripted import scripted_spec
from gapbench.catalog.types import ModelSpec
from gapbench.errors import UsageError

pytest.importorskip("ray", reason="Ray is the optional extra gapbench[ray]")


def _fake_cluster(monkeypatch: pytest.MonkeyPatch, *nodes: dict[str, float]) -> None:
    """A cluster of these nodes' resources, as ray.nodes() would report them."""
    monkeypatch.setattr(ray_run, "_node_resources", lambda: [dict(node) for node in nodes])


def _spec(backend: str) -> ModelSpec:
    return scripted_spec("scripted:m").model_copy(update={"backend": backend})


GPU_WORKER = {"num_gpus": 1, "num_cpus": 1}
CPU_WORKER = {"num_cpus": 1}


def test_gpu_workers_are_capped_by_the_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_cluster(monkeypatch, {"CPU": 2}, {"CPU": 1, "GPU": 1})
    assert ray_run._cluster("CPU") == 3 and ray_run._cluster("GPU") == 1
    assert ray_run.workers_for(GPU_WORKER, units=4) == 1  # 3 CPUs, but one GPU to hold
    assert ray_run.workers_for(GPU_WORKER, units=1) == 1
    assert ray_run.workers_for(CPU_WORKER, units=4) == 3  # a CPU worker ignores the GPUs
    assert ray_run.workers_for(CPU_WORKER, units=2) == 2  # never more workers than units
    assert ray_run.workers_for(CPU_WORKER, units=100) == 3
    _fake_cluster(monkeypatch, {"CPU": 1, "GPU": 1}, {"CPU": 2, "GPU": 1})
    assert ray_run.workers_for(GPU_WORKER, units=100) == 2
    assert ray_run.workers_for(GPU_WORKER, units=1) == 1
    _fake_cluster(monkeypatch, {"CPU": 1, "GPU": 4})
    assert ray_run.workers_for(GPU_WORKER, units=100) == 1  # each GPU worker takes a CPU too


def test_workers_are_counted_node_by_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's CPUs and GPU must be on one node: cluster totals would promise workers that
    Ray can never place (found by a real-cluster run that hung: 2 CPUs + (1 CPU, 2 GPUs))."""
    _fake_cluster(monkeypatch, {"CPU": 2}, {"CPU": 1, "GPU": 2})
    assert ray_run.workers_for(GPU_WORKER, units=10) == 1
    _fake_cluster(monkeypatch, {"CPU": 3}, {"CPU": 1})
    assert ray_run.workers_for({"num_cpus": 2}, units=10) == 1  # the 1-CPU node holds none
    _fake_cluster(monkeypatch, {"CPU": 4}, {"CPU": 4})
    assert ray_run.workers_for({"num_cpus": 2}, units=10) == 4


def test_a_worker_no_node_can_hold_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_cluster(monkeypatch, {"CPU": 2}, {"CPU": 1})
    with pytest.raises(UsageError, match=r"largest node has 2 CPUs\): pass --threads 2"):
        ray_run.workers_for({"num_cpus": 4}, units=3)
    _fake_cluster(monkeypatch, {"CPU": 2}, {"CPU": 0, "GPU": 1})
    with pytest.raises(UsageError, match="add a node with a GPU and a free CPU"):
        ray_run.workers_for(GPU_WORKER, units=3)


def test_a_gpu_backend_takes_a_gpu_where_the_cluster_has_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert backend_entry("transformers").resources == "gpu"
    assert backend_entry("scripted").resources == "none"
    _fake_cluster(monkeypatch, {"CPU": 2}, {"CPU": 1, "GPU": 1})
    gpu = ray_run._actor_options(_spec("transformers"), BackendOptions(threads=2))
    assert (gpu["num_gpus"], gpu["num_cpus"]) == (1, 1)
    assert ray_run.workers_for(gpu, units=4) == 1
    none = ray_run._actor_options(_spec("scripted"), BackendOptions(threads=2))
    assert "num_gpus" not in none and ray_run.workers_for(none, units=4) == 3


def test_without_gpus_a_gpu_backend_runs_on_cpu_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_cluster(monkeypatch, {"CPU": 3})
    one = ray_run._actor_options(_spec("transformers"), BackendOptions(threads=1))
    assert "num_gpus" not in one and one["num_cpus"] == 1
    assert ray_run.workers_for(one, units=4) == 3
    two = ray_run._actor_options(_spec("transformers"), BackendOptions(threads=2))
    assert "num_gpus" not in two and two["num_cpus"] == 2
    assert ray_run.workers_for(two, units=4) == 1  # 3 CPUs hold one worker of 2 threads


PLUGIN = '''"""A backend that needs a GPU: the scripted backend, reporting in its engine_version
the GPU Ray gave its worker and the node it runs on."""

import os

from gapbench.backends.registry import BackendEntry
from gapbench.backends.scripted import ScriptedBackend, ScriptedBehaviour, scripted_spec

BACKEND = BackendEntry(
    name="gpuprobe",
    target="gapbench_gpuprobe:create",
    prefix="gpuprobe:",
    resolver="gapbench_gpuprobe:spec",
    reference_form="gpuprobe:NAME?accuracy=0.7",
    resources="gpu",
)


def spec(ref):
    body = ref.removeprefix("gpuprobe:")
    return scripted_spec("scripted:" + body).model_copy(
        update={"id": ref, "display_name": ref, "backend": "gpuprobe"}
    )


class Probe:
    def __init__(self, inner):
        self.inner = inner

    def info(self):
        import dataclasses

        try:
            import ray

            node = ray.get_runtime_context().get_node_id()
        except Exception as exc:
            node = f"none ({type(exc).__name__})"
        cuda = os.environ.get("CUDA_VISIBLE_DEVICES")
        return dataclasses.replace(
            self.inner.info(), backend="gpuprobe", engine_version=f"cuda={cuda} node={node}"
        )

    def generate(self, requests):
        return self.inner.generate(requests)

    def close(self):
        pass


def create(spec, model_path, options):
    body = spec.id.removeprefix("gpuprobe:")
    return Probe(ScriptedBackend(ScriptedBehaviour.parse("scripted:" + body)))
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site folder with the plugin installed as pip would leave it (a module and a dist-info
    whose entry_points.txt registers its backend)."""
    site = tmp_path_factory.mktemp("site")
    (site / "gapbench_gpuprobe.py").write_text(PLUGIN)
    info = site / "gapbench_gpuprobe-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gapbench-gpuprobe\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[gapbench.backends]\ngpuprobe = gapbench_gpuprobe:BACKEND\n"
    )
    return site


def _with_plugin(site: Path) -> dict[str, str]:
    """The environment that has the plugin installed: its site folder first on PYTHONPATH."""
    path = [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(path)}


@pytest.fixture(scope="module")
def gpu_cluster(site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A head of 2 CPUs and no GPU, and a node of 1 CPU and 1 GPU; both have the plugin."""
    with local_cluster(
        tmp_path_factory.mktemp("g"), head_cpus=2, second_cpus=1, second_gpus=1,
        extra_env=_with_plugin(site),
    ) as address:  # fmt: skip
        yield address


def _gpu_nodes(address: str) -> list[str]:
    probe = (
        "import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
        "print(*[n['NodeID'] for n in ray.nodes() if n['Alive'] and n['Resources'].get('GPU')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, address], capture_output=True, text=True, timeout=120,
        check=True,
    )  # fmt: skip
    return out.stdout.split()


RUN_TIMEOUT_S = 60
"""A run of 200 scripted samples takes seconds; one with a worker Ray cannot place never ends."""


def run_probe(address: str, site: Path, db: Path) -> None:
    """`gapbench run --ray` of 200 samples of the GPU-probe backend into `db`; fails the test when
    it does not end within RUN_TIMEOUT_S or does not succeed."""
    try:
        result = subprocess.run(
            [sys.executable, "-m", "gapbench", "run", "--ray", address,
             "--model", "gpuprobe:g?accuracy=0.7", "--task", "arith", "--n", "200",
             "--db", str(db)],
            capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
            env={**os.environ, **_with_plugin(site)},
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        # A worker Ray cannot place holds the units handed to it: the run never ends.
        pytest.fail(f"the run hung: {stored_samples(db)} of 200 samples after {RUN_TIMEOUT_S} s")
    assert result.returncode == 0, result.stderr
    assert stored_samples(db) == 200


def test_a_gpu_backend_runs_on_the_gpu_node_with_one_worker_per_gpu(
    gpu_cluster: str, site: Path, tmp_path: Path
) -> None:
    [gpu_node] = _gpu_nodes(gpu_cluster)
    db = tmp_path / "gpu.db"
    run_probe(gpu_cluster, site, db)
    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT backend, engine_version, pid FROM runs").fetchall()
    # 200 instances in units of 50: four runs, all by the one worker the one GPU holds, which
    # Ray placed on the GPU node and gave that GPU (CUDA_VISIBLE_DEVICES=0).
    assert len(runs) == 4
    assert {(backend, version) for backend, version, _ in runs} == {
        ("gpuprobe", f"cuda=0 node={gpu_node}")
    }
    assert len({pid for _, _, pid in runs}) == 1
