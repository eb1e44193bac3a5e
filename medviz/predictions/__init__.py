"""Prediction-file readers. Each returns a DataFrame with columns
``item_id, model, raw, score_a, score_b, hit, log, options`` (one row per item answered; see
``prediction.Prediction``). ``options`` is the row's option set as JSON when the file itself carries the
options the official scorer reads (VLMEvalKit), else None (the benchmark's options apply).
"""
PREDICTION_COLUMNS = ["item_id", "model", "raw", "score_a", "score_b", "hit", "log", "options"]
