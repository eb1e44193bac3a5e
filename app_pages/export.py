"""Export: the tagged failure modes of the current benchmark (optionally one model / one modality) as CSV or
Parquet, one row per annotation × tag, formula-like cells neutralised."""
import streamlit as st

from medviz.ui import data
from medviz.ui.context import current
from medviz.ui.text import code

ctx = current()
st.title("Export")
if not ctx.benchmark_id:
    st.stop()
facets = data.facets(ctx.db_path, ctx.benchmark_id)
ALL = "(all)"
c = st.columns(3)
model = c[0].selectbox("Model", [ALL] + list(ctx.models), key="ex_model")
modality = c[1].selectbox("Modality", [ALL] + facets["modalities"], key="ex_modality")
fmt = c[2].radio("Format", ["csv", "parquet"], horizontal=True, key="ex_fmt")
kw = dict(benchmark_id=ctx.benchmark_id, model=None if model == ALL else model,
          modality=None if modality == ALL else modality)
payload = data.export_bytes(ctx.db_path, fmt, tuple(sorted(kw.items())))
n = data.export_rows(ctx.db_path, tuple(sorted(kw.items())))
st.markdown(f"**{n}** rows (annotation × tag) for benchmark {code(ctx.benchmark_id)}"
            + (f", model {code(model)}" if model != ALL else "") + (f", modality {code(modality)}" if modality != ALL else ""))
name = f"medviz-failure-modes-{ctx.benchmark_id}.{fmt}"
st.download_button(f"Download {fmt.upper()}", payload, file_name=name,
                   mime="text/csv" if fmt == "csv" else "application/vnd.apache.parquet",
                   type="primary", icon=":material/download:", key="ex_download", on_click="ignore")
if n:
    with st.expander("Preview", expanded=True):
        st.dataframe(data.export_preview(ctx.db_path, tuple(sorted(kw.items()))), hide_index=True)
st.caption("The same export from the command line: `medviz export annotations --db DB --out FILE.csv "
           "[--model M] [--modality X] [--format csv|parquet]`. Cells that a spreadsheet would run as a formula "
           "are neutralised.")
