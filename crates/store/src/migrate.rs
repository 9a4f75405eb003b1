use rusqlite::Connection;

/// The schema version this build writes: the number of migrations. Every op
/// batch and checkpoint carries the version it was written with.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The migrations, in order; migration `n` (1-based) brings `user_version`
/// from `n - 1` to `n`. Never edit one that has shipped: add another.
pub(crate) const MIGRATIONS: [&str; 2] = [
    include_str!("../migrations/0001_library.sql"),
    include_str!("../migrations/0002_sync_metadata.sql"),
];

/// Applies the migrations above `from` up to `to`, each in its own
/// transaction together with its `user_version` bump.
pub(crate) fn migrate(conn: &mut Connection, from: u32, to: u32) -> rusqlite::Result<()> {
    assert!(from <= to && to <= SCHEMA_VERSION);
    for version in from + 1..=to {
        let tx = conn.transaction()?;
        tx.execute_batch(MIGRATIONS[version as usize - 1])?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}
