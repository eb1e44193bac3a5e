"""A GPU machine's workflow: `medviz embed --server URL --images DIR` embeds, from its own copy of the images,
only what the server lacks, pushes it in batches, and a rerun pushes nothing; PUT /embeddings validates."""
from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import requests

from medviz.client import Client

from .harness import cli

MC = "sample-mediconfusion"


def test_embed_remotely_then_resume(server, sample_files, tmp_path):
    import shutil
    copy = tmp_path / "gpu-machine-images"                 # the other machine's own copy of the images
    shutil.copytree(sample_files["mc_images"], copy)
    env = {"MEDVIZ_SERVER": server.url}
    r = cli("embed", MC, "--encoder", "pixels", "--images", str(copy), "--batch-size", "4", env_extra=env)
    first = r.stdout
    assert "lacked vectors on the server" in first, first
    import re
    n_missing = int(re.search(r"\]: (\d+) images lacked", first).group(1))
    assert n_missing > 0 and f"{n_missing} added" in first
    r = cli("embed", MC, "--encoder", "pixels", "--images", str(copy), env_extra=env)
    assert "0 images lacked vectors" in r.stdout and "0 added" in r.stdout       # resumable: nothing left to do

    server.stop()
    from medviz.store import Store
    from medviz.store import embeddings as esql
    with Store(server.db, read_only=True) as s:
        assert "pixels" in esql.computed_encoders(s.cursor(), MC)
        digest, decode = esql.best_key(s.cursor(), MC, "pixels")
        assert decode == "exact"                              # the pixels encoder never drafts; the worker said so
        todo = esql.embedding_todo(s.cursor(), MC, "pixels", digest, decode=decode)
        assert todo.loc[todo["image_sha256"].notna(), "cached"].all()


def _arrow(hashes, vecs, digest=None, parquet=False) -> bytes:
    cols = {"image_sha256": hashes, "vector": [list(map(float, v)) for v in vecs]}
    if digest:
        cols["weights_digest"] = [digest] * len(hashes)
    t = pa.table(cols)
    buf = io.BytesIO()
    if parquet:
        pq.write_table(t, buf)
    else:
        with ipc.new_file(buf, t.schema) as w:
            w.write_table(t)
    return buf.getvalue()


def test_put_embeddings_validates_and_adds(server):
    url = server.api + "/embeddings/my-encoder"
    hdr = {"X-Medviz-User": "GPU box"}
    h = ["a" * 64, "b" * 64]
    ok = requests.put(url, data=_arrow(h, np.ones((2, 4)), "sha256:w1", parquet=True), headers=hdr, timeout=30)
    assert ok.status_code == 200 and ok.json() == {"encoder_id": "my-encoder", "weights_digest": "sha256:w1",
                                                   "decode": "unknown", "received": 2, "added": 2,
                                                   "map_refresh": False}    # images of no benchmark: no map
    again = requests.put(url, data=_arrow(h, np.ones((2, 4)), "sha256:w1"), headers=hdr, timeout=30)
    assert again.json()["added"] == 0                    # already there: nothing duplicated
    cases = [
        (_arrow(["nothex"], np.ones((1, 4)), "d"), "image_sha256"),
        (_arrow(h, np.array([[1, np.nan, 0, 0], [1, 1, 1, 1]]), "d"), "vector"),
        (_arrow(h, np.ones((2, 4))), "weights_digest"),
        (b"not arrow at all", None),
    ]
    for body, field in cases:
        r = requests.put(url, data=body, headers=hdr, timeout=30)
        assert r.status_code == 400, r.text
        assert r.json()["field"] == field and "Traceback" not in r.text
    c = Client(server.url)
    assert c.missing_embeddings(MC, "my-encoder", "sha256:w1")      # this benchmark's images are not a, b
    # the decode mode is part of the key: the same vectors said to come from exact decoding are new
    exact = requests.put(url + "?decode=exact", data=_arrow(h, np.ones((2, 4)), "sha256:w1"), headers=hdr, timeout=30)
    assert exact.json()["added"] == 2 and exact.json()["decode"] == "exact"
    bad = requests.put(url + "?decode=sideways", data=_arrow(h, np.ones((2, 4)), "sha256:w1"), headers=hdr,
                       timeout=30)
    assert bad.status_code == 400 and bad.json()["field"] == "decode"


def test_pushed_vectors_redraw_the_stored_map(server, sample_files):
    """PUT /embeddings (a GPU worker's batches) redraws the benchmark's stored 2-D map through the server's
    one writer once the pushes stop, as the embed job does: the map is fresh again without a read computing
    it, and before the server shuts down."""
    import time

    from medviz.client import push_embeddings
    c = Client(server.url, user="GPU box")

    def map_state():
        return c._call("GET", "/embeddings/pixels/missing",
                       params={"benchmark_id": MC, "weights_digest": digest, "decode": "exact"})["map"]
    res = push_embeddings(c, MC, str(sample_files["mc_images"]), "pixels", batch_size=4)
    digest = res["weights_digest"]
    assert res["added"] > 0 and res["decode"] == "exact"
    deadline = time.monotonic() + 120
    while (state := map_state()) != "fresh":
        assert time.monotonic() < deadline, f"the map is still {state} after the pushes"
        time.sleep(0.5)
    t_fresh = time.time()
    server.stop()
    from medviz.encoders import maps
    from medviz.store import Store
    from medviz.store import embeddings as esql
    with Store(server.db, read_only=True) as s:
        assert maps.map_status(s, MC, "pixels") == "fresh"
        info = esql.stored_map_info(s.cursor(), MC, "pixels", "pca")
        n_ok = s.cursor().execute("SELECT count(*) FROM items WHERE benchmark_id = ? AND image_status = 'ok'",
                                  [MC]).fetchall()[0][0]
        assert info["n_points"] == n_ok > 0
        from datetime import datetime, timezone
        assert info["computed_at"] <= datetime.fromtimestamp(t_fresh, timezone.utc).replace(tzinfo=None)


def test_probe_goes_through_the_server_and_its_error_comes_back(server):
    # the pixels baseline has no text tower: the server's job fails and the CLI prints why (no traceback)
    r = cli("embed", MC, "--encoder", "pixels", "--probe", env_extra={"MEDVIZ_SERVER": server.url}, check=False)
    assert r.returncode != 0 and "text tower" in r.stderr and "Traceback" not in r.stderr, r.stderr
