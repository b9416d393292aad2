//! The schema of a test database as text: what `schema/sqlite.sql` and `schema/postgres.sql`
//! hold, and the structure two databases must share to be the same schema.
//!
//! SQLite keeps each object's `CREATE` text, comments and all, so its snapshot is that text;
//! its structure is what SQLite's pragmas say of each table and index (columns, keys, indexes,
//! WITHOUT ROWID) with each object's text stripped of comments and layout, so that checks and
//! view bodies count too. PostgreSQL keeps no text: its snapshot, which is also its structure,
//! is rebuilt from the catalogs (`pg_get_constraintdef`, `pg_get_indexdef`, `pg_get_viewdef`,
//! and the comments). Both skip refinery's history table, and list objects by name.

use crate::support::TestDb;
use sqlx::Row as _;

/// How a snapshot says what it is and how to regenerate it.
pub const HEADER: &str = "\
-- Generated: the schema the migrations in migrations/{backend}/ leave, read back from a
-- database they created. Do not edit: regenerate with schema/regenerate.sh
-- (UPDATE_SCHEMA=1 cargo test --test it schema::snapshot); a test fails while it differs.
";

/// The snapshot of `db`: its header and the latest migration applied, then its schema. Naming
/// the migration dates the snapshot: one that changes nothing in the schema still renews it.
pub async fn snapshot(db: &TestDb) -> String {
    let (backend, schema) = match db {
        TestDb::Sqlite(pool) => ("sqlite", sqlite_snapshot(pool).await),
        TestDb::Postgres(pool) => ("postgres", postgres_schema(pool).await),
    };
    let latest = db
        .text(
            "SELECT 'V' || CAST(version AS TEXT) || '__' || name FROM refinery_schema_history
             ORDER BY version DESC LIMIT 1",
        )
        .await;
    let header = HEADER.replace("{backend}", backend);
    format!("{header}-- Up to the migration {latest}.\n\n{schema}")
}

/// What two databases of one backend share when their schemas are the same.
pub async fn structure(db: &TestDb) -> String {
    match db {
        TestDb::Sqlite(pool) => sqlite_structure(pool).await,
        TestDb::Postgres(pool) => postgres_schema(pool).await,
    }
}

/// Asserts that `actual` is the `expected` structure, showing the first lines that differ
/// rather than both whole.
#[track_caller]
pub fn assert_same(actual: &str, expected: &str) {
    let differ: Vec<String> = actual
        .lines()
        .zip(expected.lines())
        .filter(|(a, e)| a != e)
        .take(3)
        .map(|(a, e)| format!("expected: {e}\n   found: {a}"))
        .collect();
    assert!(
        actual == expected,
        "the schemas differ ({} lines and {} expected); first differences:\n{}",
        actual.lines().count(),
        expected.lines().count(),
        differ.join("\n")
    );
}

/// SQLite's objects other than its own and refinery's: (type, name, table, sql), tables each
/// followed by their indexes, then views, by name.
async fn sqlite_objects(pool: &sqlx::SqlitePool) -> Vec<(String, String, String, String)> {
    const SQL: &str = "SELECT type, name, tbl_name, sql FROM sqlite_schema
        WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'
            AND tbl_name <> 'refinery_schema_history'
        ORDER BY type = 'view', tbl_name, type <> 'table', name";
    let rows = sqlx::query(SQL).fetch_all(pool).await.expect(SQL);
    rows.iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

async fn sqlite_snapshot(pool: &sqlx::SqlitePool) -> String {
    let objects = sqlite_objects(pool).await;
    let mut out = String::new();
    for (i, (kind, _, _, sql)) in objects.iter().enumerate() {
        // A blank line before each table and view; a table's indexes follow it directly.
        if i > 0 && kind != "index" {
            out.push('\n');
        }
        out.push_str(sql);
        out.push_str(";\n");
    }
    out
}

/// `sql` without comments or layout: the words and punctuation SQLite parses.
fn bare(sql: &str) -> String {
    let code: Vec<&str> = sql
        .lines()
        .map(|line| line.split_once("--").map_or(line, |(code, _)| code))
        .collect();
    let words = code.join(" ").replace('"', "");
    let mut out = words.split_whitespace().collect::<Vec<_>>().join(" ");
    for (spaced, tight) in [(" ,", ","), ("( ", "("), (" )", ")")] {
        out = out.replace(spaced, tight);
    }
    out
}

/// Each row of `sql` as `a|b|c`, sorted.
async fn pragma_rows(pool: &sqlx::SqlitePool, sql: String) -> Vec<String> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .fetch_all(pool)
        .await
        .expect("a pragma");
    let mut out: Vec<String> = rows
        .iter()
        .map(|row| {
            let cells: Vec<String> = (0..row.len())
                .map(|i| {
                    let text: Option<String> = row.try_get(i).ok().flatten();
                    let number: Option<i64> = row.try_get(i).ok().flatten();
                    text.or(number.map(|n| n.to_string()))
                        .unwrap_or_else(|| "NULL".to_owned())
                })
                .collect();
            cells.join("|")
        })
        .collect();
    out.sort();
    out
}

async fn sqlite_structure(pool: &sqlx::SqlitePool) -> String {
    let mut out = String::new();
    for (kind, name, _, sql) in sqlite_objects(pool).await {
        out.push_str(&format!("{kind} {name}: {}\n", bare(&sql)));
        if kind == "index" {
            continue;
        }
        let pragmas = [
            format!("SELECT type, ncol, wr, strict FROM pragma_table_list('{name}')"),
            format!("SELECT * FROM pragma_table_xinfo('{name}')"),
            format!("SELECT * FROM pragma_foreign_key_list('{name}')"),
            // Without `seq`, which counts in the order the indexes were created.
            format!("SELECT name, \"unique\", origin, partial FROM pragma_index_list('{name}')"),
        ];
        for sql in pragmas {
            for row in pragma_rows(pool, sql).await {
                out.push_str(&format!("  {row}\n"));
            }
        }
        let indexes = pragma_rows(
            pool,
            format!("SELECT name FROM pragma_index_list('{name}')"),
        );
        for index in indexes.await {
            let sql = format!("SELECT '{index}', * FROM pragma_index_xinfo('{index}')");
            for row in pragma_rows(pool, sql).await {
                out.push_str(&format!("  {row}\n"));
            }
        }
    }
    out
}

/// One text per row of `sql`'s single column.
async fn texts(pool: &sqlx::PgPool, sql: &'static str) -> Vec<String> {
    let rows = sqlx::query(sql).fetch_all(pool).await.expect(sql);
    rows.iter().map(|r| r.get(0)).collect()
}

/// Functions, then tables each with its comments and indexes, then views with theirs.
async fn postgres_schema(pool: &sqlx::PgPool) -> String {
    let mut out = Vec::new();
    for function in texts(pool, FUNCTIONS).await {
        out.push(format!("{};\n", function.trim_end()));
    }
    for table in texts(pool, TABLES).await {
        out.push(table);
    }
    for view in texts(pool, VIEWS).await {
        out.push(view);
    }
    out.join("\n")
}

/// The functions of the public schema, as `CREATE OR REPLACE FUNCTION` would make them.
const FUNCTIONS: &str = "SELECT pg_get_functiondef(p.oid) FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace
    ORDER BY p.proname, pg_get_function_identity_arguments(p.oid)";

/// Each table of the public schema: its CREATE TABLE (columns in order, with their types,
/// collations, NOT NULL, defaults, identities and generated expressions, and the table's
/// constraints by name), its comments, and its indexes other than those of its constraints.
const TABLES: &str = "
WITH tables AS (
    SELECT c.oid, c.relname, c.relpersistence, c.reloptions FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
        AND c.relname <> 'refinery_schema_history'
), columns AS (
    SELECT a.attrelid AS oid, string_agg('    ' || quote_ident(a.attname) || ' '
        || format_type(a.atttypid, a.atttypmod)
        || CASE WHEN a.attcollation <> t.typcollation
               THEN ' COLLATE ' || quote_ident(co.collname) ELSE '' END
        || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
        || CASE WHEN a.attgenerated = 's'
               THEN ' GENERATED ALWAYS AS (' || pg_get_expr(d.adbin, d.adrelid) || ') STORED'
               WHEN d.adbin IS NOT NULL THEN ' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid)
               ELSE '' END
        || CASE a.attidentity
               WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY'
               WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY' ELSE '' END
        || CASE WHEN a.attidentity <> '' THEN ' (SEQUENCE NAME '
               || pg_get_serial_sequence(quote_ident(c.relname), a.attname) || ')'
               ELSE '' END,
        E',\\n' ORDER BY a.attnum) AS text
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_collation co ON co.oid = a.attcollation
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped
    GROUP BY a.attrelid
), constraints AS (
    SELECT conrelid AS oid, string_agg(E',\\n    CONSTRAINT ' || quote_ident(conname) || ' '
        || pg_get_constraintdef(oid), '' ORDER BY conname) AS text
    FROM pg_constraint GROUP BY conrelid
), comments AS (
    SELECT a.attrelid AS oid, string_agg('COMMENT ON COLUMN ' || quote_ident(c.relname) || '.'
        || quote_ident(a.attname) || ' IS ' || quote_literal(col_description(c.oid, a.attnum))
        || E';\\n', '' ORDER BY a.attnum) AS text
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    WHERE a.attnum > 0 AND col_description(c.oid, a.attnum) IS NOT NULL
    GROUP BY a.attrelid
), indexes AS (
    SELECT i.indrelid AS oid,
        string_agg(pg_get_indexdef(i.indexrelid) || E';\\n', '' ORDER BY ic.relname) AS text
    FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
    WHERE NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
    GROUP BY i.indrelid
)
SELECT 'CREATE ' || CASE t.relpersistence WHEN 'u' THEN 'UNLOGGED ' ELSE '' END || 'TABLE '
    || quote_ident(t.relname) || E' (\\n' || COALESCE(cols.text, '')
    || COALESCE(k.text, '') || E'\\n)'
    || COALESCE(' WITH (' || array_to_string(t.reloptions, ', ') || ')', '') || E';\\n'
    || COALESCE('COMMENT ON TABLE ' || quote_ident(t.relname) || ' IS '
        || quote_literal(obj_description(t.oid, 'pg_class')) || E';\\n', '')
    || COALESCE(cm.text, '') || COALESCE(ix.text, '')
FROM tables t
LEFT JOIN columns cols ON cols.oid = t.oid
LEFT JOIN constraints k ON k.oid = t.oid
LEFT JOIN comments cm ON cm.oid = t.oid
LEFT JOIN indexes ix ON ix.oid = t.oid
ORDER BY t.relname";

/// Each view of the public schema as PostgreSQL prints it, with its comments.
const VIEWS: &str = "
SELECT 'CREATE VIEW ' || quote_ident(c.relname) || E' AS\\n' || pg_get_viewdef(c.oid, true)
    || E'\\n'
    || COALESCE('COMMENT ON VIEW ' || quote_ident(c.relname) || ' IS '
        || quote_literal(obj_description(c.oid, 'pg_class')) || E';\\n', '')
    || COALESCE((SELECT string_agg('COMMENT ON COLUMN ' || quote_ident(c.relname) || '.'
            || quote_ident(a.attname) || ' IS '
            || quote_literal(col_description(c.oid, a.attnum)) || E';\\n', ''
            ORDER BY a.attnum)
        FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0
            AND col_description(c.oid, a.attnum) IS NOT NULL), '')
FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')
ORDER BY c.relname";
