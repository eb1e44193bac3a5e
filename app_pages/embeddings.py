"""Embeddings: the encoder's 2-D map of every image, coloured by correctness / tag / modality / encoder-blind;
box or lasso select → the selected items → open in Review; nearest neighbours of a chosen image."""
import streamlit as st

from medviz.encoders import map_methods
from medviz.errors import MedvizError
from medviz.readmodels.embeddings import map_sample, map_state
from medviz.thumbnails import MISSING_URI, thumbnail_uri
from medviz.ui import bulk_tag, data, encoder_panel, navigation
from medviz.ui.context import current
from medviz.ui.text import code, md

ctx = current()
st.title("Embeddings")
if not ctx.benchmark_id:
    st.stop()
computed = data.computed_encoders(ctx.db_path, ctx.benchmark_id)
if not computed:
    encoder_panel.not_computed(ctx)
    st.stop()
COLOURS = {"correctness": "correctness", "tag": "tag", "modality": "modality", "encoder_blind": "encoder-blind"}
c = st.columns([1, 1, 1])
eid = c[0].selectbox("Encoder", computed, key="emb_encoder")
method = c[1].selectbox("Layout", map_methods(), key="emb_method",
                        help="PCA always; UMAP when the umap-learn package is installed.")
colour = c[2].selectbox("Colour by", list(COLOURS), format_func=COLOURS.get, key="emb_colour")
df = data.embedding_frame(ctx.db_path, ctx.benchmark_id, eid, ctx.models, method, data.generation())
if df.empty:
    st.info("No embedded images for this encoder.")
    st.stop()
digest = df["weights_digest"].iloc[0] if "weights_digest" in df.columns else "–"
decode = df["decode"].iloc[0] if "decode" in df.columns else "–"
shown = map_sample(df)
sampled = (f"showing a fixed random {len(shown):,} of {len(df):,} images" if len(shown) < len(df)
           else f"{len(df):,} images")
st.caption(f"{sampled} · encoder {code(eid)} · weights {code(digest)} ({code(decode)} image decoding) · "
           f"{method.upper()}. Use the box or lasso tool to select points.")
state = map_state(df, method)
if state is not None:
    again = (f"{code(f'medviz embed {ctx.benchmark_id} --encoder {eid}')} stores it again (so do the embed job "
             "and a server a few seconds after pushed vectors stop arriving).")
    st.info(("**This map is out of date in the store**: vectors or items changed since it was drawn, so it is "
             "being computed from the vectors on this visit. " if state == "stale" else
             "No map is stored for this encoder yet: it is computed from the vectors on this visit. ") + again,
            icon=":material/update:")
fig = data.embedding_figure(ctx.db_path, ctx.benchmark_id, eid, ctx.models, method, colour, data.generation())
event = st.plotly_chart(fig, key=f"emb_map::{eid}::{method}::{colour}", on_select="rerun",
                        selection_mode=("box", "lasso", "points"))
picked = []
if event is not None:
    for p in event.selection.points:
        cd = p.get("customdata") if isinstance(p, dict) else None
        if cd:
            picked.append(cd[0] if isinstance(cd, (list, tuple)) else cd)
if picked:
    sel = df[df["item_id"].isin(picked)]
    st.subheader(f"{len(sel)} selected")
    show = sel[["item_id", "unit_id", "modality", "correctness", "tag", "encoder_blind"]].copy()
    show.insert(0, "image", [thumbnail_uri(ctx.store, p) for p in
                             data.item_paths(ctx.db_path, ctx.benchmark_id, tuple(sel["item_id"]))])
    st.dataframe(show.head(500), hide_index=True, column_config={"image": st.column_config.ImageColumn()})
    cc = st.columns([2, 1], vertical_alignment="bottom")
    unit = cc[0].selectbox("Open in Review", sorted(sel["unit_id"].astype(str).unique()), key="emb_open")
    cc[1].button("Open", key="emb_open_btn", icon=":material/compare:",
                 on_click=lambda: navigation.request(navigation.REVIEW, pair=st.session_state["emb_open"],
                                                     b=ctx.benchmark_id))
    bulk_tag.form(ctx, sorted(sel["unit_id"].astype(str).unique()), "embeddings", "of this selection")

st.subheader("Nearest neighbours")
default = picked[0] if picked else str(df["item_id"].iloc[0])
item = (st.text_input("Image (item id)", key="emb_nn_item", placeholder=default,
                      help="Type an item id; by default the first selected point, else the first image.")
        or default).strip()
try:
    nn = data.neighbours(ctx.db_path, ctx.benchmark_id, eid, item)
    paths = data.item_paths(ctx.db_path, ctx.benchmark_id, tuple([item] + list(nn["item_id"])))
    cols = st.columns(min(9, len(paths)))
    labels = [f"{item} (query)"] + [f"{i} · cos {c:.3f}" for i, c in zip(nn["item_id"], nn["cosine"])]
    for col, p, lab in zip(cols, paths, labels):
        uri = thumbnail_uri(ctx.store, p, size=160)
        col.image(uri, caption=lab if uri != MISSING_URI else f"{lab}: image missing ({p})")
except MedvizError as e:
    st.warning(md(e))
