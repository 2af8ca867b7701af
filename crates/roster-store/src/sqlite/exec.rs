//! Statements on the writer's own SQLite connection (rusqlite), bound and read the way the
//! rest of the store reads the pool's.
//!
//! Every write runs on one connection that the writer thread owns ([`super::writer`]), so a
//! statement is a call into SQLite on this thread: no hand-off to a connection thread, no
//! wake-up, and its prepared statement stays cached. A [`Query`] binds values in order and
//! may hold several statements separated by `;` (each takes as many of the values as it has
//! parameters, in order); the rows of all of them come back, read into owned [`Row`]s.

use rusqlite::types::{FromSql, ToSql, Value, ValueRef};
use rusqlite::{Connection, ErrorCode};

use roster_core::StoreError;

/// The connection write jobs run on.
pub(crate) type Conn = Connection;

/// Statements the writer keeps prepared: every statement of the write path, with room.
pub(crate) const STATEMENT_CACHE: usize = 256;

/// Statements and the values to bind to them, in order.
pub(crate) struct Query<'q> {
    sql: &'q str,
    args: Vec<Box<dyn ToSql + 'q>>,
}

/// `sql` with no values bound yet.
pub(crate) fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        args: Vec::new(),
    }
}

/// `sql`, its rows read as `O`.
pub(crate) fn query_as<O: FromRow>(sql: &str) -> QueryAs<'_, O> {
    QueryAs {
        query: query(sql),
        _row: std::marker::PhantomData,
    }
}

/// `sql`, the first column of its rows read as `T`.
pub(crate) fn query_scalar<T: FromSql>(sql: &str) -> QueryScalar<'_, T> {
    QueryScalar(query_as(sql))
}

impl<'q> Query<'q> {
    /// Binds the next value.
    #[must_use]
    pub(crate) fn bind<T: ToSql + 'q>(mut self, value: T) -> Self {
        self.args.push(Box::new(value));
        self
    }

    /// Runs the statements; returns how many rows they changed.
    pub(crate) fn execute(self, conn: &Conn) -> rusqlite::Result<u64> {
        let mut changed = 0;
        self.run(conn, |statement| {
            changed += statement.raw_execute()? as u64;
            Ok(())
        })?;
        Ok(changed)
    }

    /// Runs the statements; returns the rows they returned.
    pub(crate) fn fetch_all(self, conn: &Conn) -> rusqlite::Result<Vec<Row>> {
        let mut out = Vec::new();
        self.run(conn, |statement| {
            let width = statement.column_count();
            let mut rows = statement.raw_query();
            while let Some(row) = rows.next()? {
                out.push(Row((0..width)
                    .map(|i| row.get::<_, Value>(i))
                    .collect::<rusqlite::Result<_>>()?));
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row returned, if any.
    pub(crate) fn fetch_optional(self, conn: &Conn) -> rusqlite::Result<Option<Row>> {
        Ok(self.fetch_all(conn)?.into_iter().next())
    }

    /// The first row returned; none is an error.
    pub(crate) fn fetch_one(self, conn: &Conn) -> rusqlite::Result<Row> {
        self.fetch_optional(conn)?
            .ok_or(rusqlite::Error::QueryReturnedNoRows)
    }

    fn run(
        self,
        conn: &Conn,
        mut each: impl FnMut(&mut rusqlite::Statement<'_>) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()> {
        let mut args = self.args.iter();
        for sql in statements(self.sql) {
            let mut statement = conn.prepare_cached(sql)?;
            for i in 1..=statement.parameter_count() {
                let value = args.next().ok_or(rusqlite::Error::InvalidParameterCount(
                    i - 1,
                    statement.parameter_count(),
                ))?;
                statement.raw_bind_parameter(i, value)?;
            }
            each(&mut statement)?;
        }
        match args.len() {
            0 => Ok(()),
            extra => Err(rusqlite::Error::InvalidParameterCount(
                self.args.len(),
                self.args.len() - extra,
            )),
        }
    }
}

/// A [`Query`] whose rows are read as `O`.
pub(crate) struct QueryAs<'q, O> {
    query: Query<'q>,
    _row: std::marker::PhantomData<fn() -> O>,
}

impl<'q, O: FromRow> QueryAs<'q, O> {
    /// Binds the next value.
    #[must_use]
    pub(crate) fn bind<T: ToSql + 'q>(mut self, value: T) -> Self {
        self.query = self.query.bind(value);
        self
    }

    /// Every row.
    pub(crate) fn fetch_all(self, conn: &Conn) -> rusqlite::Result<Vec<O>> {
        self.query
            .fetch_all(conn)?
            .iter()
            .map(O::from_row)
            .collect()
    }

    /// The first row, if any.
    pub(crate) fn fetch_optional(self, conn: &Conn) -> rusqlite::Result<Option<O>> {
        self.query
            .fetch_optional(conn)?
            .as_ref()
            .map(O::from_row)
            .transpose()
    }

    /// The first row; none is an error.
    pub(crate) fn fetch_one(self, conn: &Conn) -> rusqlite::Result<O> {
        O::from_row(&self.query.fetch_one(conn)?)
    }
}

/// A [`Query`] whose rows are read as their first column, a `T`.
pub(crate) struct QueryScalar<'q, T>(QueryAs<'q, (T,)>);

impl<'q, T: FromSql> QueryScalar<'q, T> {
    /// Binds the next value.
    #[must_use]
    pub(crate) fn bind<V: ToSql + 'q>(self, value: V) -> Self {
        Self(self.0.bind(value))
    }

    /// Every row's value.
    pub(crate) fn fetch_all(self, conn: &Conn) -> rusqlite::Result<Vec<T>> {
        Ok(self.0.fetch_all(conn)?.into_iter().map(|(v,)| v).collect())
    }

    /// The first row's value, if any.
    pub(crate) fn fetch_optional(self, conn: &Conn) -> rusqlite::Result<Option<T>> {
        Ok(self.0.fetch_optional(conn)?.map(|(v,)| v))
    }

    /// The first row's value; no row is an error.
    pub(crate) fn fetch_one(self, conn: &Conn) -> rusqlite::Result<T> {
        Ok(self.0.fetch_one(conn)?.0)
    }
}

/// The statements of `sql`, split at each `;` outside quotes (empty ones dropped), found as
/// they are run: no allocation, and one pass over a text that holds a single statement.
fn statements(sql: &str) -> impl Iterator<Item = &str> {
    let mut rest = sql;
    std::iter::from_fn(move || {
        while !rest.is_empty() {
            let (head, tail) = rest.split_at(statement_end(rest));
            rest = tail.strip_prefix(';').unwrap_or(tail);
            if !head.trim().is_empty() {
                return Some(head);
            }
        }
        None
    })
}

/// Where the first statement of `sql` ends: at its first `;` outside quotes, or at the end.
fn statement_end(sql: &str) -> usize {
    let mut quote = None;
    for (i, b) in sql.bytes().enumerate() {
        match (quote, b) {
            (None, b'\'' | b'"') => quote = Some(b),
            (Some(q), b) if b == q => quote = None,
            (None, b';') => return i,
            _ => {}
        }
    }
    sql.len()
}

/// A row as read: its values, owned.
#[derive(Debug, Clone)]
pub(crate) struct Row(Vec<Value>);

impl Row {
    /// Column `i` read as `T`.
    pub(crate) fn try_get<T: FromSql>(&self, i: usize) -> rusqlite::Result<T> {
        let value = self
            .0
            .get(i)
            .ok_or(rusqlite::Error::InvalidColumnIndex(i))?;
        T::column_result(ValueRef::from(value)).map_err(|e| match e {
            rusqlite::types::FromSqlError::InvalidType => rusqlite::Error::InvalidColumnType(
                i,
                i.to_string(),
                ValueRef::from(value).data_type(),
            ),
            other => rusqlite::Error::FromSqlConversionFailure(
                i,
                ValueRef::from(value).data_type(),
                Box::new(other),
            ),
        })
    }
}

/// A row read as a tuple of column values.
pub(crate) trait FromRow: Sized {
    /// Reads `row`.
    fn from_row(row: &Row) -> rusqlite::Result<Self>;
}

macro_rules! tuple_from_row {
    ($($t:ident $i:tt),+) => {
        impl<$($t: FromSql),+> FromRow for ($($t,)+) {
            fn from_row(row: &Row) -> rusqlite::Result<Self> {
                Ok(($(row.try_get::<$t>($i)?,)+))
            }
        }
    };
}
tuple_from_row!(A 0);
tuple_from_row!(A 0, B 1);
tuple_from_row!(A 0, B 1, C 2);
tuple_from_row!(A 0, B 1, C 2, D 3);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// Whether `e` is a constraint SQLite enforced: a unique key, a foreign key, a check or a
/// `NOT NULL` — a conflict the caller can report, not the backend's failure.
pub(crate) fn is_constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation)
}

/// Whether `e` is a unique (or primary) key taken.
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// Whether `e` is a foreign key that names no row.
pub(crate) fn is_foreign_key_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
    )
}

/// The message SQLite gave with `e`.
pub(crate) fn message(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
        other => other.to_string(),
    }
}

/// A failed write: a constraint is a conflict the caller can report; anything else is the
/// backend's failure.
pub(crate) fn write_error(e: rusqlite::Error) -> StoreError {
    if is_constraint(&e) {
        StoreError::Conflict(message(&e))
    } else {
        StoreError::backend(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Conn {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)")
            .unwrap();
        conn
    }

    #[test]
    fn statements_split_outside_quotes() {
        let parts: Vec<&str> = statements("SELECT ';'; SELECT \"a;b\";  ;SELECT 1").collect();
        assert_eq!(parts, ["SELECT ';'", " SELECT \"a;b\"", "SELECT 1"]);
    }

    #[test]
    fn values_go_to_each_statement_in_order() {
        let conn = conn();
        let changed = query("INSERT INTO t (name) VALUES (?); INSERT INTO t (name) VALUES (?1)")
            .bind("a")
            .bind(String::from("b"))
            .execute(&conn)
            .unwrap();
        assert_eq!(changed, 2);
        let rows: Vec<(i64, String)> = query_as("SELECT id, name FROM t ORDER BY id")
            .fetch_all(&conn)
            .unwrap();
        assert_eq!(rows, [(1, "a".to_owned()), (2, "b".to_owned())]);
        let n = query_scalar::<i64>("SELECT count(*) FROM t WHERE name > ?")
            .bind("a")
            .fetch_one(&conn)
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn rows_of_every_statement_come_back() {
        let conn = conn();
        let rows = query("INSERT INTO t (name) VALUES (?) RETURNING id; SELECT name FROM t")
            .bind("x")
            .fetch_all(&conn)
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].try_get::<i64>(0).unwrap(), 1);
        assert_eq!(rows[1].try_get::<String>(0).unwrap(), "x");
        assert!(
            rows[1].try_get::<i64>(0).is_err(),
            "a text is not an integer"
        );
        assert!(rows[1].try_get::<String>(1).is_err(), "no second column");
    }

    #[test]
    fn wrong_value_counts_are_errors() {
        let conn = conn();
        let few = query("INSERT INTO t (id, name) VALUES (?, ?)")
            .bind(1)
            .execute(&conn);
        assert!(matches!(
            few,
            Err(rusqlite::Error::InvalidParameterCount(..))
        ));
        let many = query("INSERT INTO t (name) VALUES (?)")
            .bind("a")
            .bind("b")
            .execute(&conn);
        assert!(matches!(
            many,
            Err(rusqlite::Error::InvalidParameterCount(..))
        ));
    }

    #[test]
    fn constraints_are_conflicts() {
        let conn = conn();
        query("INSERT INTO t (name) VALUES ('a')")
            .execute(&conn)
            .unwrap();
        let e = query("INSERT INTO t (name) VALUES ('a')")
            .execute(&conn)
            .unwrap_err();
        assert!(is_unique_violation(&e));
        assert!(matches!(write_error(e), StoreError::Conflict(m) if m.contains("UNIQUE")));
        let e = query("SELECT * FROM nowhere").execute(&conn).unwrap_err();
        assert!(!is_constraint(&e));
        assert!(matches!(write_error(e), StoreError::Backend(_)));
    }
}
