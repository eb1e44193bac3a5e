"""medviz app entry: `streamlit run app.py` (or `make run`). Sign-in gate, shared sidebar, then the chosen page."""
import streamlit as st

from medviz.ui import navigation, signin, timing
from medviz.ui.context import sidebar
from medviz.ui.guard import guard

timing.begin("app")
try:
    st.set_page_config(page_title="medviz", page_icon=":material/biotech:", layout="wide")
    with timing.step("gate"):
        who = signin.app_gate()      # first: with [auth] or tokens, a visitor not signed in sees only the sign-in page
    page = st.navigation(list(navigation.handles().values()))
    with guard():
        navigation.follow_request()
        with timing.step("sidebar"):
            sidebar(who)
        page.run()
finally:
    timing.end()
