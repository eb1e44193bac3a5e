"""Model vs model: pick two models; the units where A is right and B wrong (and vice versa) per category or
modality, with McNemar's exact test per slice; each count opens those units in Review, one after another.
Logic: medviz.readmodels.compare."""
import streamlit as st

from medviz.readmodels import compare
from medviz.readmodels.lists import ReviewList
from medviz.ui import data, navigation
from medviz.ui.context import current

ctx = current()
st.title("Model vs model")
if not ctx.benchmark_id:
    st.stop()
names = list(ctx.models) or (list(ctx.model_info["model"]) if ctx.model_info is not None else [])
if len(names) < 2:
    st.info("Select at least two models in the sidebar to compare them.")
    st.stop()
qp = st.query_params
c = st.columns([1, 1, 1])
for key, param, default in (("cmp_a", "ma", names[0]), ("cmp_b", "mb", names[1])):
    if key not in st.session_state:
        st.session_state[key] = qp.get(param) if qp.get(param) in names else default
    elif st.session_state[key] not in names:
        st.session_state[key] = default
if "cmp_by" not in st.session_state:
    st.session_state["cmp_by"] = qp.get("by") if qp.get("by") in compare.BY else compare.BY[0]
ma = c[0].selectbox("Model A", names, key="cmp_a")
mb = c[1].selectbox("Model B", names, key="cmp_b")
by = c[2].radio("Slices", compare.BY, horizontal=True, key="cmp_by")
qp["ma"], qp["mb"], qp["by"] = ma, mb, by
if ma == mb:
    st.info("Pick two different models.")
    st.stop()
t = data.compare_models(ctx.db_path, ctx.benchmark_id, ma, mb, by)
if t.empty:
    st.info(f"{ma} and {mb} answered no common pair or item.")
    st.stop()
st.markdown(f"**A** = `{ma}` · **B** = `{mb}` · accuracy = share of units fully right (both images of a pair)")
st.caption("How to read this: " + compare.HOW_TO_READ)
shown = compare.display_table(t)


def _link(direction: str, value: str) -> str:
    rl = ReviewList.compare(ma, mb, direction, by, None if value == compare.ALL else value)
    first = data.list_unit_ids(ctx.db_path, ctx.benchmark_id, rl.items())
    if not first:
        return ""
    return navigation.url(navigation.REVIEW, b=ctx.benchmark_id, pair=first[0], **rl.to_query())


shown["open A right, B wrong"] = [_link("a_only", v) for v in t["slice"]]
shown["open B right, A wrong"] = [_link("b_only", v) for v in t["slice"]]
st.dataframe(shown, hide_index=True, column_config={
    "open A right, B wrong": st.column_config.LinkColumn("review A-only", display_text="review ›",
                                                         help="Step through these units in Review"),
    "open B right, A wrong": st.column_config.LinkColumn("review B-only", display_text="review ›",
                                                         help="Step through these units in Review"),
})
top = t.iloc[0]
st.markdown(f"Over **{int(top.units)}** units both answered: **{int(top.a_only)}** where only {ma} is right, "
            f"**{int(top.b_only)}** where only {mb} is right (McNemar exact p = {shown.iloc[0]['McNemar exact p']}).")
