"""The Statistics page: tag trends over time. The failure-mode tables, image-blind vs. tags and reviewer
agreement are read models of the annotation domain itself (``medviz.annotations.stats`` / ``agreement``);
the page calls those directly."""
from __future__ import annotations

import pandas as pd

from ..annotations import current_annotations


def tag_trends(store, benchmark_id: str, freq: str = "D") -> pd.DataFrame:
    """Annotations saved per period (``freq``: D/W/M) and top-level tag: columns period, tag, count."""
    cur = current_annotations(store, benchmark_id)
    if cur is None or len(cur) == 0:
        return pd.DataFrame(columns=["period", "tag", "count"])
    df = cur[["created_at", "tags"]].explode("tags").dropna(subset=["tags"])
    df["tag"] = df["tags"].astype(str).str.split("/").str[0]
    df["period"] = pd.to_datetime(df["created_at"]).dt.to_period(freq).dt.start_time
    return df.groupby(["period", "tag"], sort=True).size().rename("count").reset_index()
