"""Data: load benchmarks, import model runs, compute embeddings and export annotations as background jobs
with live progress, and see past jobs. Nobody has to stop the app (or the server) to add data."""
import os

import streamlit as st

from medviz.ui import jobs
from medviz.ui.context import current

ctx = current()
st.title("Data")
st.caption("Each action runs as a job on the server: it keeps going if you reload or close the page, and "
           "API clients (`medviz` CLI, `medviz.Client`) see the same jobs.")
ss = st.session_state


def _pick(v: str):
    return None if v.startswith("(") else v


def _import_predictions():
    up = ss.get("pred_file")
    if up is None:
        st.warning("Choose a prediction file first.")
        return
    jobs.start(ctx, "predictions", {"benchmark_id": ctx.benchmark_id, "path": jobs.save_upload(ctx, up),
                                    "uploaded": True, "filename": up.name,
                                    "model": ss.get("pred_model", "").strip() or None,
                                    "format": _pick(ss.get("pred_format", "(detect)")),
                                    "synthetic": bool(ss.get("pred_synthetic"))})


def _ingest():
    up = ss.get("bench_file")
    if up is None:
        st.warning("Choose a benchmark file first.")
        return
    jobs.start(ctx, "ingest", {"path": jobs.save_upload(ctx, up), "uploaded": True, "filename": up.name,
                               "kind": _pick(ss.get("bench_kind", "(detect)")),
                               "benchmark_id": ss.get("bench_id", "").strip() or None,
                               "images_dir": ss.get("bench_images", "").strip() or None})


def _embed():
    jobs.start(ctx, "embed", {"benchmark_id": ctx.benchmark_id, "encoder": ss.get("embed_encoder", "pixels"),
                              "device": _pick(ss.get("embed_device", "(best available)")),
                              "batch_size": int(ss.get("embed_batch", 0)) or None})


tab_pred, tab_bench, tab_embed, tab_export = st.tabs(["Import predictions", "Load a benchmark",
                                                      "Compute embeddings", "Export annotations"])
with tab_pred:
    if not ctx.benchmark_id:
        st.info("Load a benchmark first.")
    else:
        with st.form("pred_form", clear_on_submit=True):
            st.file_uploader("Prediction file (MediConfusion results JSON, VLMEvalKit .xlsx/.tsv/.json, CSV)",
                             type=["json", "xlsx", "tsv", "csv"], key="pred_file")
            c = st.columns(3)
            c[0].text_input("Model name", placeholder="default: from the file name", max_chars=200, key="pred_model")
            c[1].selectbox("Format", ["(detect)", "mediconfusion", "vlmevalkit", "generic"], key="pred_format")
            c[2].checkbox("Synthetic (test data)", key="pred_synthetic")
            st.form_submit_button(f"Import into {ctx.benchmark_id}", icon=":material/upload:",
                                  on_click=_import_predictions)

with tab_bench:
    with st.form("bench_form", clear_on_submit=True):
        st.file_uploader("Benchmark file (MediConfusion dataset.json, GMAI-MMBench .tsv, generic CSV)",
                         type=["json", "tsv", "csv"], key="bench_file")
        c = st.columns(2)
        c[0].selectbox("Kind", ["(detect)", "mediconfusion", "gmai", "generic"], key="bench_kind")
        c[1].text_input("Benchmark id", placeholder="default: from the file name", max_chars=200, key="bench_id")
        st.text_input("Images folder on the server (MediConfusion, generic)", max_chars=4096, key="bench_images")
        st.form_submit_button("Load", icon=":material/upload:", on_click=_ingest)

with tab_embed:
    if not ctx.benchmark_id:
        st.info("Load a benchmark first.")
    else:
        from medviz.encoders.registry import available_encoders
        ids = [s.id for s in available_encoders()]
        with st.form("embed_form"):
            c = st.columns(3)
            c[0].selectbox("Encoder", ids, index=ids.index("pixels") if "pixels" in ids else 0, key="embed_encoder")
            c[1].selectbox("Device", ["(best available)", "cpu", "cuda", "mps"], key="embed_device")
            c[2].number_input("Batch size", min_value=0, max_value=4096, value=0, help="0: the default",
                              key="embed_batch")
            st.form_submit_button(f"Embed {ctx.benchmark_id}", icon=":material/play_arrow:", on_click=_embed)

with tab_export:
    if not ctx.benchmark_id:
        st.info("Load a benchmark first.")
    else:
        fmt = st.radio("Format", ["csv", "parquet"], horizontal=True, key="data_export_fmt")
        st.button("Export annotations", icon=":material/download:", key="data_export_start", on_click=jobs.start,
                  args=(ctx, "export", {"benchmark_id": ctx.benchmark_id, "format": fmt}))
        done = [j for j in jobs.runner(ctx).list(5, "export") if j["state"] == "done" and j["result"]
                and j["params"].get("benchmark_id") == ctx.benchmark_id and os.path.exists(j["result"]["path"])]
        if done:
            path = done[0]["result"]["path"]
            with open(path, "rb") as f:
                st.download_button(f"Download {os.path.basename(path)}", f.read(), os.path.basename(path),
                                   key=f"dl-{done[0]['job_id']}")

st.subheader("Your jobs")
jobs.session_jobs(ctx)
st.subheader("All recent jobs")
st.dataframe(jobs.recent_table(ctx), hide_index=True, width="stretch")
