"""Keys and spend logs: SQLite by default, PostgreSQL by URL; batched, lossless writes."""
