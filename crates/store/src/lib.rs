//! bae's library schema, migrations and the raw SQLite database.
