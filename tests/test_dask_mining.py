"""The Dask engine on a local 2-worker cluster (loopback) gives exactly the local engine's pairs."""

from __future__ import annotations

import pytest

distributed = pytest.importorskip("distributed")

from mcgip_fast.mining import mine  # noqa: E402
from mcgip_fast.mining.synthetic import random_archive  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_dask_equals_local(client, tmp_path):
    a = random_archive(80, 10, seed=4, short=1)
    local = mine(a, "multimatch", "topk", k=3, tile_rows=7)
    remote = mine(a, "multimatch", "topk", k=3, tile_rows=7, engine="dask", scheduler=client, workdir=tmp_path / "w")
    assert remote == local
    assert remote.report.engine == "dask" and remote.report.skipped == local.report.skipped
    # By address, as the CLI does; threshold rule this time.
    address = client.scheduler.address
    assert address.startswith("tcp://127.0.0.1:")
    local_t = mine(a, "multimatch", "threshold", threshold=0.7, tile_rows=11)
    remote_t = mine(a, "multimatch", "threshold", threshold=0.7, tile_rows=11, engine="dask", scheduler=address)
    assert remote_t == local_t and remote_t.n_pairs > 0


def test_archive_is_scattered_once(client, monkeypatch):
    from mcgip_fast.mining import score as engines

    calls = []
    real_scatter = type(client).scatter

    def counting_scatter(self, data, *args, **kwargs):
        calls.append(kwargs.get("broadcast"))
        return real_scatter(self, data, *args, **kwargs)

    monkeypatch.setattr(type(client), "scatter", counting_scatter)
    submitted = []
    real_submit = type(client).submit

    def recording_submit(self, fn, *args, **kwargs):
        submitted.append(args[1])  # the state argument
        return real_submit(self, fn, *args, **kwargs)

    monkeypatch.setattr(type(client), "submit", recording_submit)
    a = random_archive(40, 8, seed=5)
    mine(a, "multimatch", "topk", k=2, tile_rows=5, engine="dask", scheduler=client)
    assert calls == [True]
    assert len(submitted) == 8 and all(isinstance(s, distributed.Future) for s in submitted)
    assert engines.ENGINES == ("local", "dask")


def test_dask_heatmap_scheme_equals_local(client):
    from mcgip_fast.data import load_studyforrest

    a = load_studyforrest()
    for scheme, opts in (("dhash", {"method": "hamming"}), ("hu", {"method": "I2"})):
        local = mine(a, scheme, "topk", k=2, scheme_options=opts, tile_rows=16)
        remote = mine(a, scheme, "topk", k=2, scheme_options=opts, tile_rows=16, engine="dask", scheduler=client)
        assert remote == local


def test_cli_dask_engine(client, tmp_path):
    from mcgip_fast.cli.main import main
    from mcgip_fast.mining import PositivePairs

    local, remote = tmp_path / "l.parquet", tmp_path / "r.parquet"
    base = ["mine", "--gaze", "studyforrest", "--k", "3", "--no-progress", "--tile-rows", "8"]
    assert main(base + ["--out", str(local)]) == 0
    assert main(base + ["--out", str(remote), "--engine", "dask", "--scheduler", client.scheduler.address]) == 0
    assert remote.read_bytes() == local.read_bytes()
    assert PositivePairs.load(remote).n_pairs > 0


def test_dask_ann_candidates_equal_local(client):
    from mcgip_fast.mining import AnnCandidates
    from mcgip_fast.mining.synthetic import jittered_replicas

    a = jittered_replicas(random_archive(15, 10, seed=6), 90, seed=7)
    ann = lambda: AnnCandidates(per_item=12, queries=10)  # noqa: E731
    local = mine(a, "multimatch", "topk", k=3, tile_rows=20, candidates=ann())
    remote = mine(a, "multimatch", "topk", k=3, tile_rows=20, candidates=ann(), engine="dask", scheduler=client)
    assert remote == local and remote.report.candidates["recall"] == local.report.candidates["recall"]
