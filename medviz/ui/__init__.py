"""Streamlit widgets shared by the pages: the only place in ``medviz/`` that imports streamlit. What a page
shows is computed by ``medviz.readmodels``; this package caches, lays out and navigates.

- ``navigation``: the pages (files under ``app_pages/``, titles, icons) and their ``st.Page`` handles;
- ``data``: the one cached ``Store`` per database file and cached read queries (cleared after writes);
- ``context``: the shared sidebar (benchmark, models, reviewer) and the per-run ``Context`` pages read;
- ``guard``: shows a ``MedvizError`` as a message, never a traceback;
- ``pair_viewer``, ``filters``, ``tagging``, ``encoder_panel``: page components.
"""
