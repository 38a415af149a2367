//! D1 access: statements with typed arguments, rows as serde structs, atomic batches.
//!
//! The single D1 database (binding `DB`) is the source of truth. Numbers cross the JS boundary as
//! f64, so integers stored here stay within 2^53 (epoch milliseconds, counters, versions).

use serde::de::DeserializeOwned;
use serde_json::Value;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

use crate::error::{Context, Error, Result};

pub const BINDING: &str = "DB";

/// One bound SQL argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl Arg {
    fn to_js(&self) -> JsValue {
        match self {
            Arg::Null => JsValue::NULL,
            Arg::Int(i) => JsValue::from_f64(*i as f64),
            Arg::Real(f) => JsValue::from_f64(*f),
            Arg::Text(s) => JsValue::from_str(s),
        }
    }
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Text(s.to_string())
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::Text(s)
    }
}
impl From<&String> for Arg {
    fn from(s: &String) -> Self {
        Arg::Text(s.clone())
    }
}
impl From<i64> for Arg {
    fn from(i: i64) -> Self {
        Arg::Int(i)
    }
}
impl From<i32> for Arg {
    fn from(i: i32) -> Self {
        Arg::Int(i.into())
    }
}
impl From<u32> for Arg {
    fn from(i: u32) -> Self {
        Arg::Int(i.into())
    }
}
impl From<usize> for Arg {
    fn from(i: usize) -> Self {
        Arg::Int(i as i64)
    }
}
impl From<f64> for Arg {
    fn from(f: f64) -> Self {
        Arg::Real(f)
    }
}
impl From<bool> for Arg {
    fn from(b: bool) -> Self {
        Arg::Int(b.into())
    }
}
impl From<&serde_json::Value> for Arg {
    fn from(v: &serde_json::Value) -> Self {
        Arg::Text(v.to_string())
    }
}
impl<T: Into<Arg>> From<Option<T>> for Arg {
    fn from(o: Option<T>) -> Self {
        o.map_or(Arg::Null, Into::into)
    }
}

/// `args![a, b, c]` builds the argument list of a statement.
#[macro_export]
macro_rules! args {
    ($($x:expr),* $(,)?) => { vec![$($crate::db::Arg::from($x)),*] };
}

pub struct Db(D1Database);

impl Db {
    pub fn from_env(env: &Env) -> Result<Db> {
        Ok(Db(env.d1(BINDING).context("binding DB")?))
    }

    /// A prepared statement with its arguments bound, for [`Db::batch`].
    pub fn stmt(&self, sql: &str, args: Vec<Arg>) -> Result<D1PreparedStatement> {
        let values: Vec<JsValue> = args.iter().map(Arg::to_js).collect();
        self.0
            .prepare(sql)
            .bind(&values)
            .map_err(|e| Error::Internal(format!("binding `{}`: {e}", head(sql))))
    }

    pub async fn first<T: DeserializeOwned>(&self, sql: &str, args: Vec<Arg>) -> Result<Option<T>> {
        self.first_value(sql, args)
            .await?
            .map(|row| from_row(sql, row))
            .transpose()
    }

    pub async fn all<T: DeserializeOwned>(&self, sql: &str, args: Vec<Arg>) -> Result<Vec<T>> {
        self.all_values(sql, args)
            .await?
            .into_iter()
            .map(|row| from_row(sql, row))
            .collect()
    }

    // Rows cross the JS boundary as `serde_json::Value` in these two non-generic functions; only
    // the conversion to `T` is generic. Keeping the async part monomorphic keeps each worker's
    // WASM small (one state machine instead of one per row type).
    async fn first_value(&self, sql: &str, args: Vec<Arg>) -> Result<Option<Value>> {
        self.stmt(sql, args)?
            .first::<Value>(None)
            .await
            .map_err(|e| Error::Internal(format!("`{}`: {e}", head(sql))))
    }

    async fn all_values(&self, sql: &str, args: Vec<Arg>) -> Result<Vec<Value>> {
        let result = self
            .stmt(sql, args)?
            .all()
            .await
            .map_err(|e| Error::Internal(format!("`{}`: {e}", head(sql))))?;
        if let Some(err) = result.error() {
            return Err(Error::Internal(format!("`{}`: {err}", head(sql))));
        }
        result
            .results::<Value>()
            .map_err(|e| Error::Internal(format!("rows of `{}`: {e}", head(sql))))
    }

    /// Runs a write and returns the number of rows it changed.
    pub async fn run(&self, sql: &str, args: Vec<Arg>) -> Result<usize> {
        let result = self
            .stmt(sql, args)?
            .run()
            .await
            .map_err(|e| Error::Internal(format!("`{}`: {e}", head(sql))))?;
        Ok(result
            .meta()
            .ok()
            .flatten()
            .and_then(|m| m.changes)
            .unwrap_or(0))
    }

    /// Runs several reads in one round trip (D1 `batch`) and returns each one's rows.
    pub async fn read_batch(
        &self,
        statements: Vec<D1PreparedStatement>,
    ) -> Result<Vec<Vec<Value>>> {
        if statements.is_empty() {
            return Ok(Vec::new());
        }
        let results = self
            .0
            .batch(statements)
            .await
            .map_err(|e| Error::Internal(format!("batch: {e}")))?;
        results
            .iter()
            .map(|r| {
                if let Some(err) = r.error() {
                    return Err(Error::Internal(format!("batch: {err}")));
                }
                r.results::<Value>()
                    .map_err(|e| Error::Internal(format!("batch rows: {e}")))
            })
            .collect()
    }

    /// Runs statements atomically (all or none) and returns each one's changed-row count.
    pub async fn batch(&self, statements: Vec<D1PreparedStatement>) -> Result<Vec<usize>> {
        if statements.is_empty() {
            return Ok(Vec::new());
        }
        let results = self
            .0
            .batch(statements)
            .await
            .map_err(|e| Error::Internal(format!("batch: {e}")))?;
        Ok(results
            .iter()
            .map(|r| r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0))
            .collect())
    }
}

/// The rows of one read in a [`Db::read_batch`], as `T`.
pub fn rows<T: DeserializeOwned>(what: &str, rows: Vec<Value>) -> Result<Vec<T>> {
    rows.into_iter().map(|row| from_row(what, row)).collect()
}

fn from_row<T: DeserializeOwned>(sql: &str, row: Value) -> Result<T> {
    serde_json::from_value(row).map_err(|e| Error::Internal(format!("row of `{}`: {e}", head(sql))))
}

fn head(sql: &str) -> String {
    sql.split_whitespace().take(6).collect::<Vec<_>>().join(" ")
}
