"""featurestore: table schemas and the store (DuckDB for tables, LanceDB for vectors).

The bottom layer: knows no model and imports neither `etl` nor `models`.
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
