"""``medviz.Client(url, token)``: the REST API of a running ``medviz serve`` from notebooks, pipelines and the CLI.

    from medviz import Client
    c = Client("http://127.0.0.1:8501", token=os.environ["MEDVIZ_TOKEN"])
    job = c.import_predictions("mediconfusion", "outputs/MyModel_MediConfusion.xlsx", model="MyModel")
    c.scores_frame("mediconfusion")            # one row per model
    c.annotations("mediconfusion")             # current annotations as a DataFrame

Job-starting calls wait for the job by default (``wait=False`` returns the queued job at once) and report
progress through ``progress(done, total)``. Every error the server sends comes back as ``ClientError``
(a ``MedvizError`` with the server's file/record/field and the HTTP ``status``).

``push_embeddings(client, benchmark_id, images_dir, encoder)``: a GPU machine embeds the images the server
lacks vectors for, from its own copy of the images, and pushes them in batches (resumable: a rerun only
embeds what is still missing).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import time

import pandas as pd

from .errors import MedvizError

FINISHED = ("done", "failed", "cancelled")
_TIMEOUT = (10, 600)


class ClientError(MedvizError):
    def __init__(self, message: str, *, status: int, file=None, record=None, field=None):
        super().__init__(message, file=file, record=record, field=field)
        self.status = status


class Client:
    def __init__(self, url: str | None = None, token: str | None = None, *, user: str | None = None):
        import requests
        self.url = (url or os.environ.get("MEDVIZ_SERVER") or "http://127.0.0.1:8501").rstrip("/")
        self.api = self.url if self.url.endswith("/api/v1") else self.url + "/api/v1"
        self.session = requests.Session()
        token = token if token is not None else os.environ.get("MEDVIZ_TOKEN")
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        if user:                                  # local mode only: the name writes are recorded under
            self.session.headers["X-Medviz-User"] = user

    # --- transport --------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, raw: bool = False, **kw):
        import requests
        try:
            r = self.session.request(method, self.api + path, timeout=kw.pop("timeout", _TIMEOUT), **kw)
        except requests.RequestException as e:
            raise ClientError(f"cannot reach the medviz server at {self.url} ({type(e).__name__})",
                              status=0) from None
        if r.status_code >= 400:
            try:
                b = r.json()
            except ValueError:
                b = {"error": r.text[:500] or r.reason}
            raise ClientError(str(b.get("error") or r.reason), status=r.status_code, file=b.get("file"),
                              record=b.get("record"), field=b.get("field"))
        return r if raw else r.json()

    # --- reads ------------------------------------------------------------------------------------------
    def health(self) -> dict:
        return self._call("GET", "/health")

    def benchmarks(self) -> pd.DataFrame:
        return pd.DataFrame(self._call("GET", "/benchmarks"))

    def models(self, benchmark_id: str) -> pd.DataFrame:
        return pd.DataFrame(self._call("GET", f"/benchmarks/{_q(benchmark_id)}/models"))

    def scores(self, benchmark_id: str, models: list[str] | None = None) -> dict:
        """The same JSON as ``medviz scores BENCHMARK --json``."""
        return self._call("GET", f"/benchmarks/{_q(benchmark_id)}/scores", params={"model": models or []})

    def scores_frame(self, benchmark_id: str, models: list[str] | None = None) -> pd.DataFrame:
        """One row per model with its scalar metrics."""
        rows = []
        for model, m in self.scores(benchmark_id, models).items():
            row = {"model": model}
            row.update({k: v for k, v in m.items() if isinstance(v, (int, float)) or v is None})
            for k, v in (m.get("pairs") or {}).items():
                if isinstance(v, (int, float)) or v is None:
                    row[f"pairs_{k}"] = v
            rows.append(row)
        return pd.DataFrame(rows)

    def errors(self, benchmark_id: str, page: int = 0, page_size: int = 48, **filters) -> dict:
        """One page of the Errors table; ``filters`` as the API's query parameters (outcome, modalities...)."""
        return self._call("GET", f"/benchmarks/{_q(benchmark_id)}/errors",
                          params={"page": page, "page_size": page_size, **filters})

    def unit(self, benchmark_id: str, unit_id: str) -> dict:
        return self._call("GET", f"/benchmarks/{_q(benchmark_id)}/units/{_q(unit_id)}")

    def annotations(self, benchmark_id: str, **filters) -> pd.DataFrame:
        return pd.DataFrame(self._call("GET", f"/benchmarks/{_q(benchmark_id)}/annotations", params=filters))

    def annotations_csv(self, benchmark_id: str) -> bytes:
        return self._call("GET", f"/benchmarks/{_q(benchmark_id)}/annotations.csv", raw=True).content

    # --- annotations --------------------------------------------------------------------------------------
    def save_annotation(self, benchmark_id: str, target_type: str, target_id: str, tags: list[str], **fields) -> dict:
        body = {"target_type": target_type, "target_id": target_id, "tags": list(tags), **fields}
        return self._call("POST", f"/benchmarks/{_q(benchmark_id)}/annotations", json=body)

    def revise_annotation(self, annotation_id: str, revision: int, **changes) -> dict:
        return self._call("POST", f"/annotations/{_q(annotation_id)}/revisions",
                          json={"revision": revision, **changes})

    def retract_annotation(self, annotation_id: str) -> dict:
        return self._call("POST", f"/annotations/{_q(annotation_id)}/retract")

    def import_annotations(self, path: str) -> dict:
        """Restore an annotation export (CSV/Parquet); others' authors are kept only for an admin token."""
        with open(path, "rb") as f:
            return self._call("POST", "/annotations/import", files={"file": (os.path.basename(path), f)})

    # --- jobs -----------------------------------------------------------------------------------------------
    def job(self, job_id: str) -> dict:
        return self._call("GET", f"/jobs/{_q(job_id)}")

    def jobs(self, limit: int = 50) -> pd.DataFrame:
        return pd.DataFrame(self._call("GET", "/jobs", params={"limit": limit}))

    def cancel(self, job_id: str) -> dict:
        return self._call("POST", f"/jobs/{_q(job_id)}/cancel")

    def wait(self, job_id: str, *, progress=None, poll: float = 0.25, timeout: float | None = None) -> dict:
        """Poll until the job finishes; ``progress(done, total)`` on each poll. Raises ClientError when the
        job failed (with its error), returns the finished job otherwise."""
        t_end = None if timeout is None else time.monotonic() + timeout
        while True:
            j = self.job(job_id)
            if progress is not None:
                progress(j["progress"]["done"], j["progress"]["total"] or 0)
            if j["state"] in FINISHED:
                if j["state"] == "failed":
                    raise ClientError(f"job {job_id} ({j['kind']}) failed: {j['error']}", status=200)
                return j
            if t_end is not None and time.monotonic() > t_end:
                return j
            time.sleep(poll)

    def _job(self, j: dict, wait: bool, progress) -> dict:
        return self.wait(j["job_id"], progress=progress) if wait else j

    def import_predictions(self, benchmark_id: str, path: str, *, model: str | None = None,
                           format: str | None = None, synthetic: bool = False, tr: float | None = None,
                           result: str | None = None, wait: bool = True, progress=None) -> dict:
        """Upload a prediction file (MediConfusion results JSON, VLMEvalKit xlsx/tsv/json, generic CSV), and
        optionally VLMEvalKit's judged ``*_result.xlsx`` for it (its hit/log columns are kept)."""
        data = {k: v for k, v in (("model", model), ("format", format)) if v}
        if synthetic:
            data["synthetic"] = "true"
        if tr is not None:
            data["tr"] = str(tr)
        with contextlib.ExitStack() as stack:
            files = {"file": (os.path.basename(path), stack.enter_context(open(path, "rb")))}
            if result:
                files["result"] = (os.path.basename(result), stack.enter_context(open(result, "rb")))
            j = self._call("POST", f"/benchmarks/{_q(benchmark_id)}/predictions", files=files, data=data)
        return self._job(j, wait, progress)

    def ingest(self, path: str, *, upload: bool = True, kind: str | None = None, benchmark_id: str | None = None,
               images_dir: str | None = None, wait: bool = True, progress=None) -> dict:
        """Ingest a benchmark: upload the file (default), or name a path on the server (``upload=False``)."""
        data = {k: v for k, v in (("kind", kind), ("benchmark_id", benchmark_id), ("images_dir", images_dir)) if v}
        if upload:
            with open(path, "rb") as f:
                j = self._call("POST", "/benchmarks", files={"file": (os.path.basename(path), f)}, data=data)
        else:
            j = self._call("POST", "/benchmarks", data={**data, "path": path})
        return self._job(j, wait, progress)

    def embed(self, benchmark_id: str, encoder: str = "pixels", *, device: str | None = None,
              batch_size: int | None = None, probe: bool = False, exact_decode: bool = False, wait: bool = True,
              progress=None) -> dict:
        """Compute embeddings on the server (``probe``: also the encoder's zero-shot choices as a model;
        ``exact_decode``: JPEGs decoded at full size, vectors cached apart from drafted ones)."""
        j = self._call("POST", f"/benchmarks/{_q(benchmark_id)}/embeddings",
                       json={"encoder": encoder, "device": device, "batch_size": batch_size, "probe": probe,
                             "exact_decode": exact_decode})
        return self._job(j, wait, progress)

    def export(self, benchmark_id: str, *, fmt: str = "csv", wait: bool = True, progress=None) -> dict:
        j = self._call("POST", f"/benchmarks/{_q(benchmark_id)}/exports", json={"format": fmt})
        return self._job(j, wait, progress)

    def download(self, job_id: str) -> bytes:
        return self._call("GET", f"/jobs/{_q(job_id)}/download", raw=True).content

    # --- embeddings computed elsewhere --------------------------------------------------------------------
    def missing_embeddings(self, benchmark_id: str, encoder_id: str, weights_digest: str, *,
                           decode: str = "unknown") -> list[str]:
        """Image sha256s the server has no vector for under this encoder, weights and decode mode."""
        return self._call("GET", f"/embeddings/{_q(encoder_id)}/missing",
                          params={"benchmark_id": benchmark_id, "weights_digest": weights_digest,
                                  "decode": decode})["missing"]

    def put_embeddings(self, encoder_id: str, weights_digest: str, hashes: list[str], vectors, *,
                       decode: str = "unknown", benchmark_id: str | None = None, device: str | None = None) -> dict:
        """Push vectors (rows of ``vectors`` for ``hashes``) as one Arrow IPC stream. ``decode``: how the
        images were decoded ('exact' or 'draft:<gap>', ``encoders.embed.decoding``; part of a vector's key)."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.ipc as ipc
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        table = pa.table({"image_sha256": pa.array(hashes, pa.string()),
                          "vector": pa.FixedSizeListArray.from_arrays(pa.array(vecs.ravel()), vecs.shape[1])
                                      .cast(pa.list_(pa.float32())),
                          "weights_digest": pa.array([weights_digest] * len(hashes), pa.string())})
        buf = io.BytesIO()
        with ipc.new_stream(buf, table.schema) as w:
            w.write_table(table)
        params = {k: v for k, v in (("benchmark_id", benchmark_id), ("device", device), ("decode", decode)) if v}
        return self._call("PUT", f"/embeddings/{_q(encoder_id)}", data=buf.getvalue(), params=params,
                          headers={"Content-Type": "application/vnd.apache.arrow.stream"})

    # --- tokens (admins) ------------------------------------------------------------------------------------
    def create_token(self, user: str, role: str = "reviewer") -> dict:
        return self._call("POST", "/tokens", json={"user": user, "role": role})

    def tokens(self) -> pd.DataFrame:
        return pd.DataFrame(self._call("GET", "/tokens"))

    def revoke_token(self, token_id: str) -> dict:
        return self._call("POST", f"/tokens/{_q(token_id)}/revoke")


def _q(part: str) -> str:
    from urllib.parse import quote
    return quote(str(part), safe="")


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def push_embeddings(client: Client, benchmark_id: str, images_dir: str, encoder_id: str = "pixels", *,
                    device: str | None = None, batch_size: int | None = None, progress=None,
                    exact_decode: bool | None = None) -> dict:
    """Embed, on this machine, the benchmark images the server has no vectors for; push them in batches.

    Images are matched by content (sha256) among the files under ``images_dir``; each batch is pushed as
    soon as it is embedded, so an interrupted run keeps what it pushed and a rerun does the rest.
    """
    from .encoders.embed import decoding, embed_paths
    from .encoders.loading import default_batch_size, load_encoder
    if not os.path.isdir(images_dir):
        raise MedvizError("images folder does not exist", file=images_dir)
    enc = load_encoder(encoder_id, device=device)
    mode = decoding(enc, exact_decode)[2]
    missing = set(client.missing_embeddings(benchmark_id, enc.id, enc.weights_digest, decode=mode))
    found: dict[str, str] = {}
    if missing:
        for root, _dirs, files in os.walk(images_dir):
            for name in sorted(files):
                p = os.path.join(root, name)
                try:
                    h = _sha256(p)
                except OSError:
                    continue
                if h in missing and h not in found:
                    found[h] = p
    hashes = sorted(found)
    paths = [found[h] for h in hashes]
    out = {"benchmark_id": benchmark_id, "encoder_id": enc.id, "weights_digest": enc.weights_digest, "decode": mode,
           "missing_on_server": len(missing), "found_here": len(paths), "pushed": 0, "added": 0, "failed": 0}
    if progress:
        progress(0, len(paths))
    done = 0
    for idx, vecs, errors in embed_paths(enc, paths, batch_size=batch_size or default_batch_size(enc.device),
                                         exact_decode=exact_decode):
        out["failed"] += len(errors)
        if vecs is not None and len(idx):
            r = client.put_embeddings(enc.id, enc.weights_digest, [hashes[i] for i in idx], vecs, decode=mode,
                                      benchmark_id=benchmark_id, device=enc.device)
            out["pushed"] += r["received"]
            out["added"] += r["added"]
        done += len(idx) + len(errors)
        if progress:
            progress(done, len(paths))
    return out
