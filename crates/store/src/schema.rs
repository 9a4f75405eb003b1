use rusqlite::Connection;

use crate::Table;

/// One column of a table, as SQLite declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The column name.
    pub name: String,
    /// Whether writes to it are recorded and merged: false for every column
    /// of a device-local table and for a synced table's local columns.
    pub synced: bool,
    /// The declared SQL type (`TEXT`, `INTEGER`, `BLOB`, `REAL`).
    pub decl_type: String,
    /// Whether the column is `NOT NULL`.
    pub not_null: bool,
    /// Whether the column references another table's `id`.
    pub references: Option<Table>,
}

/// A foreign key from a column of one table to the `id` of another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    /// The referencing table.
    pub child: Table,
    /// The referencing column.
    pub column: String,
    /// The referenced table.
    pub parent: Table,
    /// Whether deleting the parent deletes the child (`ON DELETE CASCADE`);
    /// otherwise the child's column is set to NULL (`ON DELETE SET NULL`).
    pub cascade: bool,
}

/// The shape of one table, read from SQLite when the database opens so that
/// the SQL migrations stay the one definition of the schema.
#[derive(Debug, Clone)]
pub struct TableSchema {
    /// The table.
    pub table: Table,
    /// Every column, in declaration order, without the sync metadata columns.
    pub columns: Vec<Column>,
    /// The synced columns other than `id`, in declaration order: the fields an
    /// insert op carries. A field's index here is its index in
    /// [`crate::FieldClocks`].
    pub fields: Vec<String>,
    /// Foreign keys of this table.
    pub parents: Vec<ForeignKey>,
    /// Foreign keys of other tables that reference this one.
    pub children: Vec<ForeignKey>,
}

impl TableSchema {
    /// The index of synced field `name` in [`TableSchema::fields`].
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f == name)
    }

    /// Whether `name` is a column of this table.
    pub fn has_column(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c.name == name)
    }

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The name of this table's shadow table, which holds its rows that
    /// exist but are hidden because a parent is absent.
    pub fn shadow_name(&self) -> String {
        format!("_shadow_{}", self.table.name())
    }

    /// Whether `name` is a synced field of this table.
    pub fn is_synced_field(&self, name: &str) -> bool {
        self.field_index(name).is_some()
    }
}

/// The shape of all sixteen tables.
#[derive(Debug, Clone)]
pub struct Schema {
    tables: Vec<TableSchema>,
}

/// Columns the sync layer adds to every synced table; never part of a row's
/// data.
pub(crate) const META_COLUMNS: [&str; 3] = ["_sync_hlc", "_sync_dev", "_sync_fhlc"];

impl Schema {
    /// Reads the schema of a migrated database and checks the rules the sync
    /// layer depends on.
    ///
    /// # Panics
    ///
    /// If the migrations broke one of those rules (a synced table without a
    /// text `id` primary key, a synced table referencing a local one, a
    /// synced-to-synced foreign key that does not cascade): that is a bug in
    /// this crate, not bad input.
    pub(crate) fn load(conn: &Connection) -> rusqlite::Result<Schema> {
        let mut tables = Vec::with_capacity(Table::ALL.len());
        for table in Table::ALL {
            let mut stmt = conn.prepare(&format!("PRAGMA table_info({})", table.name()))?;
            let columns: Vec<Column> = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, bool>(3)?,
                    ))
                })?
                .filter_map(|col| match col {
                    Ok((n, _, _)) if META_COLUMNS.contains(&n.as_str()) => None,
                    Ok((n, decl_type, not_null)) => Some(Ok(Column {
                        synced: table.is_synced() && !table.local_columns().contains(&n.as_str()),
                        name: n,
                        decl_type,
                        not_null,
                        references: None,
                    })),
                    Err(e) => Some(Err(e)),
                })
                .collect::<rusqlite::Result<_>>()?;
            assert!(
                columns.first().is_some_and(|c| c.name == "id"),
                "table {table} must start with its id column"
            );
            let mut columns = columns;
            let mut stmt = conn.prepare(&format!("PRAGMA foreign_key_list({})", table.name()))?;
            let parents = stmt
                .query_map([], |r| {
                    let parent: String = r.get(2)?;
                    let column: String = r.get(3)?;
                    let to: String = r.get(4)?;
                    let on_delete: String = r.get(6)?;
                    Ok((parent, column, to, on_delete))
                })?
                .map(|fk| {
                    let (parent, column, to, on_delete) = fk?;
                    let parent = Table::from_name(&parent)
                        .unwrap_or_else(|| panic!("{table}.{column} references unknown {parent}"));
                    assert_eq!(to, "id", "{table}.{column} must reference {parent}.id");
                    let cascade = match on_delete.as_str() {
                        "CASCADE" => true,
                        "SET NULL" => false,
                        other => panic!("{table}.{column}: unsupported ON DELETE {other}"),
                    };
                    if table.is_synced() {
                        assert!(
                            parent.is_synced(),
                            "synced {table} references local {parent}"
                        );
                        assert!(cascade, "synced {table}.{column} must cascade");
                    }
                    Ok(ForeignKey {
                        child: table,
                        column,
                        parent,
                        cascade,
                    })
                })
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for fk in &parents {
                let col = columns
                    .iter_mut()
                    .find(|c| c.name == fk.column)
                    .expect("fk column exists");
                col.references = Some(fk.parent);
            }
            let fields = columns
                .iter()
                .skip(1)
                .filter(|c| c.synced)
                .map(|c| c.name.clone())
                .collect();
            tables.push(TableSchema {
                table,
                columns,
                fields,
                parents,
                children: Vec::new(),
            });
        }
        let all_fks: Vec<ForeignKey> = tables.iter().flat_map(|t| t.parents.clone()).collect();
        for fk in all_fks {
            tables[fk.parent as usize].children.push(fk);
        }
        for (i, t) in tables.iter().enumerate() {
            assert_eq!(t.table as usize, i, "Table::ALL order must match the enum");
            assert!(
                t.fields.len() <= usize::from(u8::MAX),
                "field index must fit a byte"
            );
        }
        Ok(Schema { tables })
    }

    /// The shape of `table`.
    pub fn table(&self, table: Table) -> &TableSchema {
        &self.tables[table as usize]
    }
}
