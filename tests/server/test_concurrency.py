"""20 API clients x 50 annotation saves, one prediction import and one embedding job at once, against a real
server: every acknowledged save is in the store exactly once, both jobs complete, p95 latency printed."""
from __future__ import annotations

from medviz.client import Client

from .load import save_storm

MC = "sample-mediconfusion"


def test_concurrent_saves_and_jobs(server, sample_files):
    c = Client(server.url, user="Pipeline")
    units = c.errors(MC, outcome="all", page_size=500)["rows"]
    targets = sorted({("pair", r["unit_id"]) for r in units})
    assert len(targets) >= 5

    def jobs():
        imp = c.import_predictions(MC, sample_files["mc_results"]["random-baseline (seed 0)"], model="during-load",
                                   wait=False)
        emb = c.embed(MC, "pixels", wait=False)
        return [imp["job_id"], emb["job_id"]]

    res = save_storm(server.url, MC, targets, clients=20, saves=50, jobs=jobs)
    print(f"\n1000 saves by 20 clients + import + embed: p50 {res['p50_ms']:.1f} ms, p95 {res['p95_ms']:.1f} ms, "
          f"{res['saves_per_s']:.0f} saves/s")
    assert res["errors"] == []
    assert len(res["acked"]) == 1000 and len(set(res["acked"])) == 1000

    imp, emb = res["jobs"]
    assert imp["state"] == "done" and imp["result"]["models"]["during-load"] > 0
    assert emb["state"] == "done" and emb["result"]["n_new"] + emb["result"]["n_cached"] == emb["result"]["n_images"]

    current = c.annotations(MC)
    load = current[current["reviewer"].str.startswith("Load Reviewer")]
    assert len(load) == 1000
    assert sorted(load["annotation_id"]) == sorted(res["acked"])        # each acknowledged save exactly once
    assert set(load["revision"]) == {1}
    assert "during-load" in set(c.models(MC)["model"])
