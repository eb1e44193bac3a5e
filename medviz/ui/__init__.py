"""Streamlit widgets shared by the pages: the only place in ``medviz/`` that imports streamlit.

- ``data``: the one cached ``Store`` per database file and cached read queries (cleared after writes);
- ``context``: the shared sidebar (benchmark, models, reviewer) and the per-run ``Context`` pages read;
- ``guard``: shows a ``MedvizError`` as a message, never a traceback;
- ``pair_viewer``, ``filters``, ``tagging``, ``encoder_panel``: page components.
"""
