"""medviz app entry: `streamlit run app.py` (or `make run`). Shared sidebar, then the chosen page."""
import streamlit as st

from medviz.ui import navigation
from medviz.ui.context import sidebar
from medviz.ui.guard import guard

st.set_page_config(page_title="medviz", page_icon=":material/biotech:", layout="wide")

page = st.navigation(list(navigation.handles().values()))
with guard():
    navigation.follow_request()
    sidebar()
    page.run()
