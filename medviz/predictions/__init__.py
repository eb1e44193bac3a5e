"""Prediction-file readers. Each returns a DataFrame with columns
``item_id, model, raw, score_a, score_b, hit, log`` (one row per item answered; see ``prediction.Prediction``).
"""
PREDICTION_COLUMNS = ["item_id", "model", "raw", "score_a", "score_b", "hit", "log"]
