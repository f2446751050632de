"""featurestore: table schemas and the store (DuckDB for tables, LanceDB for vectors).

The bottom layer: knows no model and imports neither `etl` nor `models`.
  schemas.py        every table's pyarrow schema (embedding tables per vector width)
  store.py          Store: short DuckDB transactions, upserts, read-only SQL
  vectors.py        per-model Lance tables mirrored into DuckDB; similarity, full text, hybrid, ANN index
  registry.py       lineage registry (SQLAlchemy): model versions, ETL versions, job runs, table versions
  point_in_time.py  training sets: latest features public by each event's date, TTL, amendments
  growth.py         growth labels from inline-XBRL facts
  growth_dataset.py the regression dataset: labels joined to point-in-time features
  regression.py     ridge / OLS, company-aware splits, bootstrap intervals, baselines
Only schemas and store are imported here (the rest on demand: lancedb and sqlalchemy are slow to import).
"""
from featurestore import schemas
from featurestore.schemas import (
    CHUNKS,
    FACTS,
    FILINGS,
    GROWTH,
    NUMBERS,
    REJECTS,
    RELATIONAL_TABLES,
    SECTIONS,
    TABLES_BY_NAME,
    UTC_TS,
    WEBSITE_STATS,
    Table,
    duckdb_ddl,
    duckdb_type,
    table,
)
from featurestore.store import ReadOnlyQueryError, Store, StoreLockedError, StoreWriter

__all__ = [
    "schemas", "Table", "table", "duckdb_ddl", "duckdb_type", "UTC_TS",
    "FILINGS", "SECTIONS", "CHUNKS", "NUMBERS", "FACTS", "REJECTS", "WEBSITE_STATS", "GROWTH",
    "RELATIONAL_TABLES", "TABLES_BY_NAME",
    "Store", "StoreWriter", "ReadOnlyQueryError", "StoreLockedError",
]
