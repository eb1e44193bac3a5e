"""Importing a model's predictions from the browser (Home page). The upload goes to a temporary file and through
the normal importer; a bad file gives the importer's MedvizError message (which file, record, field)."""
from __future__ import annotations

import os
import tempfile

import streamlit as st

from .. import limits
from ..errors import MedvizError
from ..ingest import import_predictions
from .text import md


UPLOAD_TYPES = (".json", ".xlsx", ".tsv", ".csv")


def predictions_uploader(ctx) -> None:
    with st.expander("Import model predictions", icon=":material/upload:"):
        st.caption("MediConfusion Results JSON, VLMEvalKit .xlsx/.tsv/.json, or a generic CSV "
                   "(item_id, model, prediction). Re-importing a model replaces its earlier run.")
        # No ``type=``: Streamlit would reject a hostile name (NUL) while restoring widget state, before
        # this page runs, i.e. as a crash; the name and extension are checked on import instead.
        f = st.file_uploader("Prediction file (.json, .xlsx, .tsv, .csv)", key="pred_upload")
        c = st.columns([2, 1])
        c[0].text_input("Model name (optional)", key="pred_model")
        c[1].checkbox("synthetic data", key="pred_synth",
                      help="Label these predictions as synthetic (test data, not a real model).")
        msg = st.session_state.pop("_upload_msg", None)
        if msg:
            (st.success if msg[0] == "ok" else st.error)(md(msg[1]))
        st.button("Import", key="pred_import", icon=":material/upload:", on_click=_import, args=(ctx,),
                  disabled=f is None)


def _import(ctx) -> None:
    """Button callback: write the upload to a temporary file and run the normal importer."""
    f = st.session_state.get("pred_upload")
    if f is None:
        return
    model = (st.session_state.get("pred_model") or "").strip() or None
    synthetic = bool(st.session_state.get("pred_synth"))
    try:
        name = limits.check_upload_name(f.name, UPLOAD_TYPES)   # NUL, 300 characters, separators, extension
    except MedvizError as e:
        st.session_state["_upload_msg"] = ("error", f"Could not import the file: {e.detail}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name)
        with open(path, "wb") as out:
            out.write(f.getvalue())
        try:
            counts = import_predictions(ctx.store, ctx.benchmark_id, path, model=model, synthetic=synthetic)
        except MedvizError as e:
            where = e.detail if e.file == path else str(e)
            rec = f" (record {e.record})" if e.file == path and e.record else ""
            st.session_state["_upload_msg"] = (
                "error", f"Could not import {f.name}{rec}: {where}. Check the file format and that it belongs "
                         "to this benchmark, then upload it again.")
            return
    st.cache_data.clear()
    select_models(ctx.benchmark_id, list(counts))
    st.session_state["_upload_msg"] = ("ok", "Imported " + ", ".join(f"{n} predictions for {m}"
                                                                        for m, n in counts.items())
                                       + " — selected in the sidebar.")


def select_models(benchmark_id: str, new: list[str]) -> None:
    """Add freshly imported models to the sidebar's model selection (from a callback, before it is drawn)."""
    from .context import models_key
    key = models_key(benchmark_id)
    chosen = list(st.session_state.get(key) or [])
    st.session_state[key] = chosen + [m for m in new if m not in chosen]
