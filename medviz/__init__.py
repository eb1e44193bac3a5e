"""medviz: see why multimodal models get medical images wrong.

Data flow: benchmark + prediction files -> ingest -> store (DuckDB) -> scoring / explanations / statistics
-> read models per page (``medviz.readmodels``) -> pages (``app_pages/``, Streamlit) and export. Only
``medviz.ui`` imports streamlit.

Where things live: ``registry`` (benchmark kinds and prediction formats), ``extras`` (optional packages),
``benchmarks/`` and ``predictions/`` (one module per format), ``answers``/``scoring``/``evaluate`` (rules and
metrics), ``ingest``, ``images``, ``store/`` (SQL), ``readmodels/``, ``encoders/``, ``annotations/``,
``cli/``, ``ui/``.
"""
__version__ = "0.1.0"


def __getattr__(name):
    if name == "Client":        # ``medviz.Client(url, token)`` without importing requests for every user
        from .client import Client
        return Client
    raise AttributeError(name)
