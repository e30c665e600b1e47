"""The project store: its SQLite tables, its lock and its run records."""
