"""The Errors filter bar: widgets initialised from the URL, and the URL kept in step with the widgets, so a
filtered view can be shared by copying the address."""
from __future__ import annotations

import streamlit as st

from .. import limits
from ..readmodels.errors import OUTCOME_LABELS, ErrorFilter
from . import data

TAGGED_LABELS = {"any": "tagged or not", "tagged": "tagged", "untagged": "untagged"}


_URL_KEYS = ("outcome", "modalities", "categories", "departments", "tags", "reviewers", "tagged", "images", "q",
             "biomedclip_sim_min", "biomedclip_sim_max", "dino_sim_min", "dino_sim_max")


def _init_from_url(ctx, facets, ann, ranges) -> None:
    """Set the widgets from the URL's filter, or, when the URL carries none (the page was opened from the
    sidebar), from the filter last used in this session on this benchmark."""
    ss = st.session_state
    saved = ss.get("errors_filter")
    url_has_filter = any(k in st.query_params for k in _URL_KEYS)
    if not url_has_filter and saved is not None and ss.get("_ef_bench") == ctx.benchmark_id:
        f = saved
    else:
        f = ErrorFilter.from_query(st.query_params)
    ss["ef_outcome"] = f.outcome or "all"
    ss["ef_modalities"] = [m for m in f.modalities if m in facets["modalities"]]
    ss["ef_categories"] = [c for c in f.categories if c in facets["categories"]]
    ss["ef_departments"] = [d for d in f.departments if d in facets["departments"]]
    ss["ef_tags"] = [t for t in f.tags if t in ann.tags]
    ss["ef_reviewers"] = [r for r in f.reviewers if r in ann.reviewers]
    ss["ef_tagged"] = f.tagged or "any"
    ss["ef_images"] = f.image_problems
    ss["ef_search"] = f.search
    for key, col in (("ef_bsim", "biomedclip_sim"), ("ef_dsim", "dino_sim")):
        r = ranges.get(col)
        if r:
            lo = getattr(f, col + "_min")
            hi = getattr(f, col + "_max")
            ss[key] = (float(lo if lo is not None else r[0]), float(hi if hi is not None else r[1]))


def filter_bar(ctx) -> ErrorFilter:
    """Render the filters; return the ErrorFilter and write it into the URL."""
    facets = data.facets(ctx.db_path, ctx.benchmark_id)
    ann = data.annotation_index(ctx.db_path, ctx.benchmark_id)
    ranges = data.sim_ranges(ctx.db_path, ctx.benchmark_id)
    sig = (ctx.benchmark_id, str(sorted(st.query_params.to_dict().items())))
    # the widgets' state is dropped when another page runs: set them again from the URL (a link with a
    # filter) or from this session's last filter (the sidebar), and whenever the benchmark changes
    if st.session_state.get("_ef_bench") != ctx.benchmark_id or "ef_outcome" not in st.session_state:
        _init_from_url(ctx, facets, ann, ranges)
        st.session_state["_ef_bench"] = ctx.benchmark_id
    c = st.columns([1.3, 1.2, 1.2, 1.2])
    c[0].selectbox("Outcome", list(OUTCOME_LABELS), format_func=OUTCOME_LABELS.get, key="ef_outcome")
    c[1].multiselect("Modality", facets["modalities"], key="ef_modalities")
    c[2].multiselect("Category", facets["categories"], key="ef_categories")
    c[3].multiselect("Department", facets["departments"], key="ef_departments",
                     disabled=not facets["departments"])
    c = st.columns([1.3, 1.2, 1.2, 1.2])
    c[0].text_input("Search question / id", key="ef_search", max_chars=limits.MAX_PARAM)
    c[1].multiselect("Tag", ann.tags, key="ef_tags", disabled=not ann.tags,
                     placeholder="choose tags" if ann.tags else "no tags yet")
    c[2].multiselect("Reviewer", ann.reviewers, key="ef_reviewers", disabled=not ann.reviewers)
    c[3].selectbox("Tagged", list(TAGGED_LABELS), format_func=TAGGED_LABELS.get, key="ef_tagged")
    st.checkbox("image problems", key="ef_images",
                help="Only pairs / items with an image that is missing or unreadable (the reason is shown in Review).")
    f = ErrorFilter(
        outcome=None if st.session_state["ef_outcome"] == "all" else st.session_state["ef_outcome"],
        modalities=list(st.session_state["ef_modalities"]), categories=list(st.session_state["ef_categories"]),
        departments=list(st.session_state["ef_departments"]), tags=list(st.session_state["ef_tags"]),
        reviewers=list(st.session_state["ef_reviewers"]),
        tagged=None if st.session_state["ef_tagged"] == "any" else st.session_state["ef_tagged"],
        search=st.session_state["ef_search"].strip(), image_problems=bool(st.session_state.get("ef_images")))
    sims = [(k, col, label) for k, col, label in (("ef_bsim", "biomedclip_sim", "BiomedCLIP_sim (benchmark)"),
                                                   ("ef_dsim", "dino_sim", "DINO_sim (benchmark)")) if ranges.get(col)]
    if sims:
        c = st.columns(len(sims))
        for box, (key, col, label) in zip(c, sims):
            lo, hi = ranges[col]
            if hi <= lo:
                hi = lo + 1e-6
            st.session_state.setdefault(key, (float(lo), float(hi)))
            v = box.slider(label, float(lo), float(hi), key=key, step=0.001, format="%.3f")
            if v[0] > lo + 1e-9:
                setattr(f, col + "_min", v[0])
            if v[1] < hi - 1e-9:
                setattr(f, col + "_max", v[1])
    _write_url(f)
    st.session_state["errors_filter"] = f
    del sig
    return f


def _write_url(f: ErrorFilter) -> None:
    qp = st.query_params
    want = f.to_query()
    for k in _URL_KEYS:
        if k in want:
            v = want[k]
            cur = qp.get_all(k) if isinstance(v, list) else qp.get(k)
            if cur != v:
                qp[k] = v
        elif k in qp:
            del qp[k]
