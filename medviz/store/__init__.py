"""DuckDB storage. ``db.Store`` owns the connection; each module here holds the SQL of one component."""
from .db import Store, default_db_path  # noqa: F401
