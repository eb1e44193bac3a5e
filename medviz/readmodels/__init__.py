"""Read models: what each app page shows, as plain Python (no Streamlit), so they are tested without a
browser and can be served by an HTTP API as they are. One module per page; each function takes a ``Store``
(or frames already read from it) and returns data classes or DataFrames.

- ``leaderboard``: one row per model with official metrics, Wilson intervals and the random baseline;
- ``errors``: the Errors filter (round-trips through the URL), the tag/reviewer index, one page of the table;
- ``review``: one pair or item with every model's answers, previous/next and the next-untagged-error queue;
- ``embeddings``: the encoder's 2-D map joined with what it can be coloured by, and the drawn sample;
- ``statistics``: tag trends over time (the other tables come from ``medviz.annotations.stats``/``agreement``).

SQL lives in ``medviz.store``; thumbnails in ``medviz.thumbnails``; the 2-D map itself in
``medviz.encoders.embedding_map``.
"""
