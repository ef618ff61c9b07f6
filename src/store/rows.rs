//! Batched multi-row INSERTs, for bulk loads (demo data, benchmarks) that would otherwise cost one
//! round trip per row.

use anyhow::Result;

use super::{Store, Ts};
use crate::on_db;

/// One bindable value of a row. NULLs keep their type: PostgreSQL refuses a NULL of the wrong type.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Int(Option<i64>),
    Bool(Option<bool>),
    Text(Option<String>),
    Time(Option<Ts>),
    Date(Option<chrono::NaiveDate>),
}

macro_rules! sql_value_from {
    ($($t:ty => $variant:ident $(via $conv:expr)?),* $(,)?) => {$(
        impl From<$t> for SqlValue {
            fn from(v: $t) -> Self {
                SqlValue::$variant(Some(sql_value_from!(@conv v $(, $conv)?)))
            }
        }
        impl From<Option<$t>> for SqlValue {
            fn from(v: Option<$t>) -> Self {
                SqlValue::$variant(v.map(|v| sql_value_from!(@conv v $(, $conv)?)))
            }
        }
    )*};
    (@conv $v:ident) => { $v };
    (@conv $v:ident, $conv:expr) => { $conv($v) };
}

sql_value_from!(
    i64 => Int,
    bool => Bool,
    String => Text,
    Ts => Time,
    chrono::NaiveDate => Date,
    &str => Text via str::to_string,
);

macro_rules! bind_value {
    ($query:expr, $value:expr) => {
        match $value {
            SqlValue::Int(v) => $query.bind(*v),
            SqlValue::Bool(v) => $query.bind(*v),
            SqlValue::Text(v) => $query.bind(v.as_deref()),
            SqlValue::Time(v) => $query.bind(*v),
            SqlValue::Date(v) => $query.bind(*v),
        }
    };
}

pub(crate) use bind_value;

/// Inserts `rows` into `table` in one transaction, several hundred rows per statement.
pub async fn insert_rows(store: &Store, table: &str, columns: &[&str], rows: &[Vec<SqlValue>]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    // Both SQLite (32766) and PostgreSQL (65535) bound the parameters of one statement; past a few
    // thousand parameters larger statements only cost more to prepare.
    let per_statement = rows_per_statement(columns.len());
    on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        for chunk in rows.chunks(per_statement) {
            let sql = insert_sql(table, columns, chunk.len());
            let mut query = sqlx::query(&sql);
            for row in chunk {
                debug_assert_eq!(row.len(), columns.len());
                for value in row {
                    query = bind_value!(query, value);
                }
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

/// Rows per multi-row statement of `columns` columns.
pub fn rows_per_statement(columns: usize) -> usize {
    (4_000 / columns.max(1)).max(1)
}

/// `INSERT INTO table (columns) VALUES (...), (...)` for `row_count` rows, numbered `$1`, `$2`, ...
pub fn insert_sql(table: &str, columns: &[&str], row_count: usize) -> String {
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    let mut n = 0;
    for row in 0..row_count {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 0..columns.len() {
            n += 1;
            if col > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${n}"));
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_placeholders_across_rows() {
        assert_eq!(super::insert_sql("t", &["a", "b"], 2), "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)");
    }
}
