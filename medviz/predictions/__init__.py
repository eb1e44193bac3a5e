"""Prediction-file readers, one module per format (registered in ``medviz.registry.PREDICTION_FORMATS``).

Each ``read`` returns a DataFrame with columns ``item_id, model, raw, score_a, score_b, hit, log, options``,
one row per item answered: ``raw`` is the model's full answer text (None if it produced nothing);
``score_a/b`` the MediConfusion judge / likelihood scores when the Results file has them; ``hit``/``log``
VLMEvalKit's judged result, kept verbatim; ``options`` the row's option set as JSON when the file itself
carries the options the official scorer reads (VLMEvalKit), else None (the benchmark's options apply).
The letter is derived from ``raw`` at import, never stored instead of it.
"""
PREDICTION_COLUMNS = ["item_id", "model", "raw", "score_a", "score_b", "hit", "log", "options"]
