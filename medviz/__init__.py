"""medviz: see why multimodal models get medical images wrong.

Data flow: benchmark + prediction files -> ingest -> store (DuckDB) -> scoring / explanations / statistics
-> read models per page (``medviz.readmodels``) -> pages (``app_pages/``, Streamlit) and export. Only
``medviz.ui`` imports streamlit.
"""
__version__ = "0.1.0"
