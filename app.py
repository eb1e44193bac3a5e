"""medviz app entry: `streamlit run app.py` (or `make run`). Shared sidebar, then the chosen page."""
import streamlit as st

from medviz.ui.context import follow_page_request, sidebar
from medviz.ui.guard import guard

st.set_page_config(page_title="medviz", page_icon=":material/biotech:", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Leaderboard", icon=":material/leaderboard:", default=True),
    st.Page("pages/review.py", title="Review", icon=":material/compare:"),
    st.Page("pages/errors.py", title="Errors", icon=":material/error:"),
    st.Page("pages/embeddings.py", title="Embeddings", icon=":material/scatter_plot:"),
    st.Page("pages/statistics.py", title="Statistics", icon=":material/monitoring:"),
    st.Page("pages/export.py", title="Export", icon=":material/download:"),
    st.Page("pages/data.py", title="Data", icon=":material/database:"),
]
page = st.navigation(PAGES)
with guard():
    follow_page_request()
    sidebar()
    page.run()
