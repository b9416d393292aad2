//! One statement, built once, runs on every backend: the pool ([`Db`]), transaction ([`Tx`])
//! and row ([`Row`]) of either, and the dispatch to them.
//!
//! Store code builds a [`Sql`] (text with `$n` placeholders, which SQLite and PostgreSQL both
//! read, plus bind values as backend-neutral [`Cell`]s) and runs it on a [`Tx`] or [`Db`]; rows
//! come back as [`Row`], read by column name into any type both drivers decode. Each method
//! here matches on the backend, one line per backend.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{AssertSqlSafe, Database, Decode, Encode, PgPool, Postgres, Sqlite, SqlitePool};
use sqlx::{Transaction, Type};
use std::borrow::Cow;
use std::fmt::Write as _;

/// A pool of connections to the inventory database.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction on the inventory database.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Bind parameters per statement: well under SQLite's 32,766 and PostgreSQL's 65,535.
pub const MAX_PARAMS: usize = 30_000;

/// A value bound to a statement. Each variant keeps its SQL type even when NULL, since
/// PostgreSQL needs a typed NULL.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
    /// jsonb in PostgreSQL, JSON text in SQLite: for values of our own (a scope's filters).
    /// What the API sent is stored as text, written by `crate::json`, which keeps it exact.
    Json(Option<Value>),
    /// timestamptz in PostgreSQL; in SQLite UTC text `YYYY-MM-DD HH:MM:SS.ffffff`
    /// ([`crate::time::stored_text`]), which compares correctly with what SQLite's own
    /// `datetime()` gives (RFC 3339's `T` would sort after its space).
    Time(Option<DateTime<Utc>>),
    /// A connection id as the key its row is unique by ([`IdKey`]): text, computed as each
    /// backend's generated key column computes it.
    IdKey(String),
    /// A 128-bit number (a network's bound, [`crate::net::Bounds`]; a hash): a `uuid` in
    /// PostgreSQL, 16 bytes that compare as the number does; in SQLite 32 lowercase hex
    /// digits ([`crate::net::hex`]), which compare the same. Read back by [`Row::u128_at`].
    U128(Option<u128>),
}

/// A connection id bound as the key rows are unique by: `connections.id_key`,
/// `staged_connections.connection_key`, `scope_connections.connection_key`.
/// A btree index entry of PostgreSQL holds at most about 2.7 KB, so those columns hold `0` and
/// the id when it takes at most [`SHORT_ID_BYTES`], else `1` and (PostgreSQL) the SHA-256 of
/// its bytes as 64 hex digits or (SQLite) the id. Lookups by key use the unique index whole,
/// which a lookup by id on PostgreSQL cannot.
#[derive(Debug, Clone, Copy)]
pub struct IdKey<'a>(pub &'a str);

/// The longest id, in bytes, that is its own key (after its `0`).
pub const SHORT_ID_BYTES: usize = 2000;

impl From<IdKey<'_>> for Cell {
    fn from(key: IdKey<'_>) -> Self {
        Cell::IdKey(key.0.to_owned())
    }
}

/// Each of `ids` as its key.
pub fn id_keys<'a, S: AsRef<str>>(ids: &'a [S]) -> Vec<IdKey<'a>> {
    ids.iter().map(|id| IdKey(id.as_ref())).collect()
}

/// The key of `id` as a backend's key columns hold it: `long` is what a long id becomes.
fn id_key(id: &str, long: impl FnOnce(&str) -> String) -> String {
    if id.len() <= SHORT_ID_BYTES {
        format!("0{id}")
    } else {
        format!("1{}", long(id))
    }
}

/// PostgreSQL's key of `id`.
pub(super) fn postgres_id_key(id: &str) -> String {
    use sha2::{Digest, Sha256};
    id_key(id, |id| hex::encode(Sha256::digest(id.as_bytes())))
}

/// SQLite's key of `id`.
fn sqlite_id_key(id: &str) -> String {
    id_key(id, str::to_owned)
}

impl From<&str> for Cell {
    fn from(v: &str) -> Self {
        Cell::Text(Some(v.to_owned()))
    }
}
impl From<String> for Cell {
    fn from(v: String) -> Self {
        Cell::Text(Some(v))
    }
}
impl From<&String> for Cell {
    fn from(v: &String) -> Self {
        Cell::Text(Some(v.clone()))
    }
}
impl From<Option<&str>> for Cell {
    fn from(v: Option<&str>) -> Self {
        Cell::Text(v.map(str::to_owned))
    }
}
impl From<Option<String>> for Cell {
    fn from(v: Option<String>) -> Self {
        Cell::Text(v)
    }
}
impl From<&Option<String>> for Cell {
    fn from(v: &Option<String>) -> Self {
        Cell::Text(v.clone())
    }
}
impl From<Option<u128>> for Cell {
    fn from(v: Option<u128>) -> Self {
        Cell::U128(v)
    }
}

impl From<i64> for Cell {
    fn from(v: i64) -> Self {
        Cell::Int(Some(v))
    }
}
impl From<&i64> for Cell {
    fn from(v: &i64) -> Self {
        Cell::Int(Some(*v))
    }
}
impl From<Option<i64>> for Cell {
    fn from(v: Option<i64>) -> Self {
        Cell::Int(v)
    }
}
impl From<&Option<i64>> for Cell {
    fn from(v: &Option<i64>) -> Self {
        Cell::Int(*v)
    }
}
impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        Cell::Float(Some(v))
    }
}
impl From<bool> for Cell {
    fn from(v: bool) -> Self {
        Cell::Bool(Some(v))
    }
}
impl From<&bool> for Cell {
    fn from(value: &bool) -> Self {
        Cell::Bool(Some(*value))
    }
}

impl From<&Option<bool>> for Cell {
    fn from(v: &Option<bool>) -> Self {
        Cell::Bool(*v)
    }
}
impl From<Option<Value>> for Cell {
    fn from(v: Option<Value>) -> Self {
        Cell::Json(v)
    }
}
impl From<DateTime<Utc>> for Cell {
    fn from(v: DateTime<Utc>) -> Self {
        Cell::Time(Some(v))
    }
}
impl From<&DateTime<Utc>> for Cell {
    fn from(v: &DateTime<Utc>) -> Self {
        Cell::Time(Some(*v))
    }
}
impl From<Option<DateTime<Utc>>> for Cell {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        Cell::Time(v)
    }
}

impl From<&Option<DateTime<Utc>>> for Cell {
    fn from(v: &Option<DateTime<Utc>>) -> Self {
        Cell::Time(*v)
    }
}

/// Where [`Sql::push_values`] wrote its `VALUES` list: the text and the binds it spans (which
/// PostgreSQL gets as arrays: `Sql::postgres_query`, in `unnest`).
#[derive(Debug, Clone, Copy)]
pub(super) struct ValuesBlock {
    /// Byte range of `VALUES (...), (...)` in the statement's text.
    pub text: (usize, usize),
    /// Index of its first bind.
    pub first_bind: usize,
    pub rows: usize,
    pub width: usize,
}

/// A statement and its bind values.
#[derive(Debug, Clone)]
pub struct Sql {
    pub(super) text: Cow<'static, str>,
    pub(super) binds: Vec<Cell>,
    /// Fixed text (only `new` and `arg`): worth preparing once and caching.
    fixed: bool,
    /// The one `VALUES` list [`Sql::push_values`] wrote, which PostgreSQL gets as arrays.
    pub(super) values: Option<ValuesBlock>,
    /// More than one `VALUES` list: none is rewritten.
    several_values: bool,
}

impl Sql {
    /// A fixed statement whose `$n` placeholders are filled by [`Sql::arg`] in order. Fixed
    /// statements are prepared once per connection and cached.
    pub fn new(text: &'static str) -> Self {
        Self {
            text: Cow::Borrowed(text),
            binds: Vec::new(),
            fixed: true,
            values: None,
            several_values: false,
        }
    }

    /// A statement built elsewhere whose text is the same for every call of its shape, so
    /// worth preparing once (see `unnest`).
    pub(super) fn prepared(text: String, binds: Vec<Cell>) -> Self {
        Self {
            text: Cow::Owned(text),
            binds,
            fixed: true,
            values: None,
            several_values: false,
        }
    }

    /// Binds the next `$n` of a fixed statement.
    pub fn arg(mut self, value: impl Into<Cell>) -> Self {
        self.binds.push(value.into());
        self
    }

    /// Appends text to a statement being built.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.fixed = false;
        self.text.to_mut().push_str(text);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn bind(&mut self, value: impl Into<Cell>) -> &mut Self {
        self.binds.push(value.into());
        let placeholder = format!("${}", self.binds.len());
        self.push(&placeholder)
    }

    /// Appends ` IN ($a, $b, ...)` binding each of `values`.
    pub fn push_in_list<V: Into<Cell>>(
        &mut self,
        values: impl IntoIterator<Item = V>,
    ) -> &mut Self {
        self.push(" IN (");
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(value);
        }
        self.push(")")
    }

    /// Appends `VALUES (...), (...)`, one tuple per row of cells.
    pub fn push_values(&mut self, rows: impl IntoIterator<Item = Vec<Cell>>) -> &mut Self {
        let (start, first_bind) = (self.text.len(), self.binds.len());
        let mut width = None;
        let mut count = 0;
        self.push("VALUES ");
        for (i, row) in rows.into_iter().enumerate() {
            self.push(if i > 0 { ", (" } else { "(" });
            let cells = row.len();
            // Rows of different widths (never built) are no block of columns.
            width = match width {
                None if i == 0 => Some(Some(cells)),
                Some(Some(w)) if w == cells => Some(Some(w)),
                _ => Some(None),
            };
            for (j, cell) in row.into_iter().enumerate() {
                if j > 0 {
                    self.push(", ");
                }
                self.bind(cell);
            }
            self.push(")");
            count = i + 1;
        }
        self.several_values |= self.values.is_some();
        self.values = match (width.flatten(), self.several_values) {
            (Some(width), false) => Some(ValuesBlock {
                text: (start, self.text.len()),
                first_bind,
                rows: count,
                width,
            }),
            _ => None,
        };
        self
    }

    /// The statement as SQLite should get it. `$n` means "parameter n" there too, but SQLite
    /// keeps parameter names in a list it scans linearly, when preparing and again for each
    /// bind (sqlx asks each parameter's name), so a statement of 30,000 `$n` took seconds.
    /// Placeholders numbered 1, 2, 3, ... in order (everything `bind` builds) become bare `?`,
    /// which has no name; any other order (fixed statements reusing `$1`) becomes `?n`.
    /// Times become the text SQLite holds them as (see [`Cell::Time`]), keys SQLite's keys,
    /// network bounds hex text.
    fn for_sqlite(mut self) -> Self {
        for cell in &mut self.binds {
            match cell {
                Cell::Time(t) => *cell = Cell::Text(t.as_ref().map(crate::time::stored_text)),
                Cell::IdKey(id) => *cell = Cell::Text(Some(sqlite_id_key(id))),
                Cell::U128(b) => *cell = Cell::Text(b.map(crate::net::hex)),
                _ => {}
            }
        }
        let text = self.text.as_ref();
        if !text.contains('$') {
            return self;
        }
        let numbers = placeholders(text);
        let in_order = numbers.iter().enumerate().all(|(i, (_, n))| *n == i + 1);
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for (at, n) in numbers {
            out.push_str(&text[copied..at]);
            out.push('?');
            if !in_order {
                write!(out, "{n}").expect("a String takes any text");
            }
            copied = at + 1 + digits(n);
        }
        out.push_str(&text[copied..]);
        self.text = Cow::Owned(out);
        self
    }

    /// Built statements differ every time (list lengths): caching them would only fill the cache.
    fn persistent(&self) -> bool {
        self.fixed
    }
}

/// How many decimal digits `n` is written with.
fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// Each `$n` of `text` outside quotes (`'costs $5'` is text, not a parameter): its byte offset
/// and `n`.
fn placeholders(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut quote = None;
    for (at, &b) in bytes.iter().enumerate() {
        match (quote, b) {
            (None, b'\'' | b'"') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            (None, b'$') => {
                let digits = bytes[at + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if let Ok(n) = text[at + 1..at + 1 + digits].parse() {
                    out.push((at, n));
                }
            }
            _ => {}
        }
    }
    out
}

/// A statement ready for one backend's executor.
pub(super) type Query<DB> = sqlx::query::Query<'static, DB, <DB as Database>::Arguments>;

/// `sql` with its binds, for backend `DB`: the one place cells become driver values.
pub(super) fn query<DB>(sql: Sql) -> Query<DB>
where
    DB: Database + sqlx::database::HasStatementCache,
    Option<String>: for<'t> Encode<'t, DB> + Type<DB>,
    Option<i64>: for<'t> Encode<'t, DB> + Type<DB>,
    Option<f64>: for<'t> Encode<'t, DB> + Type<DB>,
    Option<bool>: for<'t> Encode<'t, DB> + Type<DB>,
    Option<Value>: for<'t> Encode<'t, DB> + Type<DB>,
    Option<DateTime<Utc>>: for<'t> Encode<'t, DB> + Type<DB>,
    Option<sqlx::types::Uuid>: for<'t> Encode<'t, DB> + Type<DB>,
{
    let persistent = sql.persistent();
    let mut query = sqlx::query(AssertSqlSafe(sql.text)).persistent(persistent);
    for cell in sql.binds {
        query = match cell {
            Cell::Text(v) => query.bind(v),
            Cell::Int(v) => query.bind(v),
            Cell::Float(v) => query.bind(v),
            Cell::Bool(v) => query.bind(v),
            Cell::Json(v) => query.bind(v),
            Cell::Time(v) => query.bind(v),
            // SQLite's became text in `for_sqlite`.
            Cell::IdKey(id) => query.bind(Some(postgres_id_key(&id))),
            Cell::U128(b) => query.bind(b.map(sqlx::types::Uuid::from_u128)),
        };
    }
    query
}

/// The type `query` sends each of `binds` as.
fn bind_types<DB>(binds: &[Cell]) -> Vec<DB::TypeInfo>
where
    DB: Database,
    Option<String>: Type<DB>,
    Option<i64>: Type<DB>,
    Option<f64>: Type<DB>,
    Option<bool>: Type<DB>,
    Option<Value>: Type<DB>,
    Option<DateTime<Utc>>: Type<DB>,
    Option<sqlx::types::Uuid>: Type<DB>,
{
    let type_of = |cell: &Cell| match cell {
        Cell::Text(_) | Cell::IdKey(_) => <Option<String> as Type<DB>>::type_info(),
        Cell::Int(_) => <Option<i64> as Type<DB>>::type_info(),
        Cell::Float(_) => <Option<f64> as Type<DB>>::type_info(),
        Cell::Bool(_) => <Option<bool> as Type<DB>>::type_info(),
        Cell::Json(_) => <Option<Value> as Type<DB>>::type_info(),
        Cell::Time(_) => <Option<DateTime<Utc>> as Type<DB>>::type_info(),
        Cell::U128(_) => <Option<sqlx::types::Uuid> as Type<DB>>::type_info(),
    };
    binds.iter().map(type_of).collect()
}

/// A result row of either backend.
pub enum Row {
    Sqlite(sqlx::sqlite::SqliteRow),
    Postgres(sqlx::postgres::PgRow),
}

/// A type both drivers read from a column.
pub trait Decoded:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}
impl<T> Decoded for T where
    T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

impl Row {
    /// The value of the named column.
    pub fn get<T: Decoded>(&self, column: &str) -> sqlx::Result<T> {
        use sqlx::Row as _;
        match self {
            Row::Sqlite(row) => row.try_get(column),
            Row::Postgres(row) => row.try_get(column),
        }
    }

    /// The named integer column, whatever its width: PostgreSQL keeps small numbers of ours
    /// (the lists' `ip_version` and positions) in `smallint` and `integer`, which sqlx reads
    /// only as `i16` and `i32`.
    pub fn int(&self, column: &str) -> sqlx::Result<i64> {
        use sqlx::{Column as _, Row as _, TypeInfo as _};
        match self {
            Row::Sqlite(row) => row.try_get(column),
            Row::Postgres(row) => match row.try_column(column)?.type_info().name() {
                "INT2" => row.try_get::<i16, _>(column).map(i64::from),
                "INT4" => row.try_get::<i32, _>(column).map(i64::from),
                _ => row.try_get(column),
            },
        }
    }

    /// The value of the column at `index` (from 0).
    pub fn at<T: Decoded>(&self, index: usize) -> sqlx::Result<T> {
        use sqlx::Row as _;
        match self {
            Row::Sqlite(row) => row.try_get(index),
            Row::Postgres(row) => row.try_get(index),
        }
    }

    /// The 128-bit number at `index`, as [`Cell::U128`] stores it.
    pub fn u128_at(&self, index: usize) -> sqlx::Result<Option<u128>> {
        use sqlx::Row as _;
        match self {
            Row::Sqlite(row) => row
                .try_get::<Option<String>, _>(index)?
                .map(|hex| {
                    u128::from_str_radix(&hex, 16).map_err(|e| sqlx::Error::ColumnDecode {
                        index: index.to_string(),
                        source: format!("not 32 hex digits ({e})").into(),
                    })
                })
                .transpose(),
            Row::Postgres(row) => Ok(row
                .try_get::<Option<sqlx::types::Uuid>, _>(index)?
                .map(|uuid| uuid.as_u128())),
        }
    }

    /// The names of the row's columns, in order.
    pub fn column_names(&self) -> Vec<String> {
        use sqlx::{Column as _, Row as _};
        match self {
            Row::Sqlite(row) => row.columns().iter().map(|c| c.name().to_owned()).collect(),
            Row::Postgres(row) => row.columns().iter().map(|c| c.name().to_owned()).collect(),
        }
    }
}

fn rows<R>(rows: Vec<R>, wrap: fn(R) -> Row) -> Vec<Row> {
    rows.into_iter().map(wrap).collect()
}

impl Tx {
    pub async fn commit(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }

    /// Runs a statement; returns the number of rows it affected.
    pub async fn execute(&mut self, sql: Sql) -> sqlx::Result<u64> {
        Ok(match self {
            Tx::Sqlite(tx) => query(sql.for_sqlite())
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            Tx::Postgres(tx) => sql
                .postgres_query()
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        })
    }

    pub async fn fetch_all(&mut self, sql: Sql) -> sqlx::Result<Vec<Row>> {
        Ok(match self {
            Tx::Sqlite(tx) => rows(
                query(sql.for_sqlite()).fetch_all(&mut **tx).await?,
                Row::Sqlite,
            ),
            Tx::Postgres(tx) => rows(
                sql.postgres_query().fetch_all(&mut **tx).await?,
                Row::Postgres,
            ),
        })
    }

    pub async fn fetch_one(&mut self, sql: Sql) -> sqlx::Result<Row> {
        Ok(match self {
            Tx::Sqlite(tx) => Row::Sqlite(query(sql.for_sqlite()).fetch_one(&mut **tx).await?),
            Tx::Postgres(tx) => Row::Postgres(sql.postgres_query().fetch_one(&mut **tx).await?),
        })
    }

    /// Runs `sql`, handing each row to `each` as it arrives rather than holding them all.
    pub async fn for_each_row(
        &mut self,
        sql: Sql,
        mut each: impl FnMut(Row) -> sqlx::Result<()>,
    ) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(tx) => {
                let rows = query(sql.for_sqlite()).fetch(&mut **tx);
                drain(rows, |row| each(Row::Sqlite(row))).await
            }
            Tx::Postgres(tx) => {
                let rows = query(sql).fetch(&mut **tx);
                drain(rows, |row| each(Row::Postgres(row))).await
            }
        }
    }

    /// The names of the columns `sql` returns, read from the prepared statement (a query that
    /// returns no rows still has them). It is prepared with its binds' types, as it runs:
    /// without them PostgreSQL guesses a placeholder's type from its first use, and took
    /// `$1 AS allowed_min` for text, which `lifetime_seconds < allowed_min` then refused.
    pub async fn column_names(&mut self, sql: Sql) -> sqlx::Result<Vec<String>> {
        match self {
            Tx::Sqlite(tx) => {
                let sql = sql.for_sqlite();
                let types = bind_types::<Sqlite>(&sql.binds);
                prepared_columns(&mut **tx, sql.text, &types).await
            }
            Tx::Postgres(tx) => {
                let types = bind_types::<Postgres>(&sql.binds);
                prepared_columns(&mut **tx, sql.text, &types).await
            }
        }
    }
}

/// Hands each row of `rows` to `each`, stopping at the first error.
async fn drain<R>(
    mut rows: futures_core::stream::BoxStream<'_, sqlx::Result<R>>,
    mut each: impl FnMut(R) -> sqlx::Result<()>,
) -> sqlx::Result<()> {
    while let Some(row) = std::future::poll_fn(|cx| rows.as_mut().poll_next(cx)).await {
        each(row?)?;
    }
    Ok(())
}

/// The column names of `text` as `executor` prepares it with parameters of `types`.
async fn prepared_columns<'c, E: sqlx::Executor<'c>>(
    executor: E,
    text: Cow<'static, str>,
    types: &[<E::Database as Database>::TypeInfo],
) -> sqlx::Result<Vec<String>> {
    use sqlx::{Column as _, SqlSafeStr as _, Statement as _};
    let statement = executor
        .prepare_with(AssertSqlSafe(text.into_owned()).into_sql_str(), types)
        .await?;
    Ok(statement
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect())
}

impl Tx {
    /// Runs a script of several statements as it is, without binds (migrations).
    pub async fn execute_script(&mut self, script: &str) -> sqlx::Result<()> {
        let script = AssertSqlSafe(script.to_owned());
        match self {
            Tx::Sqlite(tx) => sqlx::raw_sql(script).execute(&mut **tx).await.map(|_| ()),
            Tx::Postgres(tx) => sqlx::raw_sql(script).execute(&mut **tx).await.map(|_| ()),
        }
    }
}

impl Db {
    /// Runs a statement in its own transaction; returns the number of rows it affected.
    pub async fn execute(&self, sql: Sql) -> sqlx::Result<u64> {
        Ok(match self {
            Db::Sqlite(pool) => query(sql.for_sqlite()).execute(pool).await?.rows_affected(),
            Db::Postgres(pool) => sql.postgres_query().execute(pool).await?.rows_affected(),
        })
    }

    pub async fn fetch_all(&self, sql: Sql) -> sqlx::Result<Vec<Row>> {
        Ok(match self {
            Db::Sqlite(pool) => rows(query(sql.for_sqlite()).fetch_all(pool).await?, Row::Sqlite),
            Db::Postgres(pool) => rows(sql.postgres_query().fetch_all(pool).await?, Row::Postgres),
        })
    }

    pub async fn fetch_one(&self, sql: Sql) -> sqlx::Result<Row> {
        Ok(match self {
            Db::Sqlite(pool) => Row::Sqlite(query(sql.for_sqlite()).fetch_one(pool).await?),
            Db::Postgres(pool) => Row::Postgres(sql.postgres_query().fetch_one(pool).await?),
        })
    }

    pub async fn fetch_optional(&self, sql: Sql) -> sqlx::Result<Option<Row>> {
        Ok(match self {
            Db::Sqlite(pool) => query(sql.for_sqlite())
                .fetch_optional(pool)
                .await?
                .map(Row::Sqlite),
            Db::Postgres(pool) => sql
                .postgres_query()
                .fetch_optional(pool)
                .await?
                .map(Row::Postgres),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_own_key_up_to_2000_bytes_and_a_digest_past_them() {
        let short = "é".repeat(1000);
        assert_eq!(postgres_id_key(&short), format!("0{short}"));
        assert_eq!(sqlite_id_key(&short), format!("0{short}"));
        let long = format!("{short}x");
        let key = postgres_id_key(&long);
        assert_eq!((key.len(), &key[..1]), (65, "1"));
        assert_ne!(key, postgres_id_key(&format!("{short}y")));
        assert_eq!(sqlite_id_key(&long), format!("1{long}"));
        // SQLite's keys are text once the statement is made for it.
        let sql = Sql::new("SELECT 1 WHERE k = $1")
            .arg(IdKey("a"))
            .for_sqlite();
        assert_eq!(sql.binds, [Cell::Text(Some("0a".to_owned()))]);
    }

    #[test]
    fn built_statements_number_their_placeholders() {
        let mut sql = Sql::new("SELECT id FROM t WHERE a = ");
        sql.bind(1).push(" AND b").push_in_list(["x", "y"]);
        assert_eq!(sql.text, "SELECT id FROM t WHERE a = $1 AND b IN ($2, $3)");
        assert_eq!(sql.binds.len(), 3);
        assert!(!sql.persistent());
        assert!(Sql::new("SELECT 1").persistent());

        let reused = Sql::new("SELECT $2 WHERE a = $1 OR $1 IS NULL AND b = '$'").for_sqlite();
        assert_eq!(
            reused.text,
            "SELECT ?2 WHERE a = ?1 OR ?1 IS NULL AND b = '$'"
        );
        assert!(reused.persistent(), "still a fixed statement");
        let mut built = Sql::new("SELECT x FROM t WHERE a");
        built.push_in_list(1..=12);
        assert_eq!(
            built.for_sqlite().text,
            "SELECT x FROM t WHERE a IN (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );

        let mut insert = Sql::new("INSERT INTO t (a, b) ");
        insert.push_values([
            vec![Cell::from(1), Cell::from("p")],
            vec![2.into(), "q".into()],
        ]);
        assert_eq!(
            insert.text,
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
    }
}
