//! D1 access: statements with typed arguments, rows as serde structs, atomic batches.
//!
//! The single D1 database (binding `DB`) is the source of truth. Numbers cross the JS boundary as
//! f64, so integers stored here stay within 2^53 (epoch milliseconds, counters, versions).

use std::cell::Cell;
use std::rc::Rc;

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

/// What one request cost in D1: round trips (each `first`/`all`/`run`/`batch` is one) and
/// statements (a batch of five is one round trip, five statements), its own and those of the
/// handlers it called through service bindings. Every request's log line carries them.
#[derive(Debug, Default)]
pub struct Meter {
    round_trips: Cell<u32>,
    statements: Cell<u32>,
    downstream_round_trips: Cell<u32>,
    downstream_statements: Cell<u32>,
}

/// A request's D1 cost as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cost {
    pub round_trips: u32,
    pub statements: u32,
}

/// Response headers a handler uses to tell its caller what the request cost in D1, downstream
/// calls included. Callers add them to their own meter; the gateway strips them.
pub const ROUND_TRIPS_HEADER: &str = "x-revops-d1-round-trips";
pub const STATEMENTS_HEADER: &str = "x-revops-d1-statements";

impl Meter {
    fn count(&self, statements: usize) {
        self.round_trips.set(self.round_trips.get() + 1);
        self.statements
            .set(self.statements.get() + statements as u32);
    }

    /// Adds what a called handler reported for its whole chain.
    pub fn add_downstream(&self, cost: Cost) {
        self.downstream_round_trips
            .set(self.downstream_round_trips.get() + cost.round_trips);
        self.downstream_statements
            .set(self.downstream_statements.get() + cost.statements);
    }

    /// This worker's own cost.
    pub fn own(&self) -> Cost {
        Cost {
            round_trips: self.round_trips.get(),
            statements: self.statements.get(),
        }
    }

    /// This worker's cost plus that of every handler it called.
    pub fn chain(&self) -> Cost {
        Cost {
            round_trips: self.round_trips.get() + self.downstream_round_trips.get(),
            statements: self.statements.get() + self.downstream_statements.get(),
        }
    }

    /// The log fields: own figures, and the chain's when other handlers were called.
    pub fn log_fields(&self, fields: &mut serde_json::Map<String, Value>) {
        let own = self.own();
        let chain = self.chain();
        fields.insert("d1_round_trips".into(), own.round_trips.into());
        fields.insert("d1_statements".into(), own.statements.into());
        if chain != own {
            fields.insert("chain_d1_round_trips".into(), chain.round_trips.into());
            fields.insert("chain_d1_statements".into(), chain.statements.into());
        }
    }
}

impl Cost {
    /// The figures a handler's response reported in [`ROUND_TRIPS_HEADER`] and
    /// [`STATEMENTS_HEADER`]; zero when absent (a response from outside).
    pub fn from_headers(headers: &worker::Headers) -> Cost {
        let number = |name: &str| {
            headers
                .get(name)
                .ok()
                .flatten()
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
        };
        Cost {
            round_trips: number(ROUND_TRIPS_HEADER),
            statements: number(STATEMENTS_HEADER),
        }
    }

    /// Stamps the figures on a response for the caller.
    pub fn to_headers(self, headers: &worker::Headers) -> worker::Result<()> {
        headers.set(ROUND_TRIPS_HEADER, &self.round_trips.to_string())?;
        headers.set(STATEMENTS_HEADER, &self.statements.to_string())?;
        Ok(())
    }
}

pub struct Db {
    d1: D1Database,
    meter: Rc<Meter>,
}

impl Db {
    pub fn from_env(env: &Env) -> Result<Db> {
        Ok(Db {
            d1: env.d1(BINDING).context("binding DB")?,
            meter: Rc::default(),
        })
    }

    /// A handle that counts on `meter` (the gateway's one meter per request).
    pub fn with_meter(env: &Env, meter: Rc<Meter>) -> Result<Db> {
        Ok(Db {
            d1: env.d1(BINDING).context("binding DB")?,
            meter,
        })
    }

    /// The request's D1 meter, shared by every clone of it taken before the handler ran.
    pub fn meter(&self) -> Rc<Meter> {
        self.meter.clone()
    }

    /// A prepared statement with its arguments bound, for [`Db::batch`].
    pub fn stmt(&self, sql: &str, args: Vec<Arg>) -> Result<D1PreparedStatement> {
        let values: Vec<JsValue> = args.iter().map(Arg::to_js).collect();
        self.d1
            .prepare(sql)
            .bind(&values)
            .map_err(|e| Error::internal(format!("binding `{}`: {e}", head(sql))))
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
        self.meter.count(1);
        self.stmt(sql, args)?
            .first::<Value>(None)
            .await
            .map_err(|e| Error::internal(format!("`{}`: {e}", head(sql))))
    }

    async fn all_values(&self, sql: &str, args: Vec<Arg>) -> Result<Vec<Value>> {
        self.meter.count(1);
        let result = self
            .stmt(sql, args)?
            .all()
            .await
            .map_err(|e| Error::internal(format!("`{}`: {e}", head(sql))))?;
        if let Some(err) = result.error() {
            return Err(Error::internal(format!("`{}`: {err}", head(sql))));
        }
        result
            .results::<Value>()
            .map_err(|e| Error::internal(format!("rows of `{}`: {e}", head(sql))))
    }

    /// Runs a write and returns the number of rows it changed.
    pub async fn run(&self, sql: &str, args: Vec<Arg>) -> Result<usize> {
        self.meter.count(1);
        let result = self
            .stmt(sql, args)?
            .run()
            .await
            .map_err(|e| Error::internal(format!("`{}`: {e}", head(sql))))?;
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
        self.meter.count(statements.len());
        let results = self
            .d1
            .batch(statements)
            .await
            .map_err(|e| Error::internal(format!("batch: {e}")))?;
        results
            .iter()
            .map(|r| {
                if let Some(err) = r.error() {
                    return Err(Error::internal(format!("batch: {err}")));
                }
                r.results::<Value>()
                    .map_err(|e| Error::internal(format!("batch rows: {e}")))
            })
            .collect()
    }

    /// Runs statements atomically (all or none) and returns each one's changed-row count.
    pub async fn batch(&self, statements: Vec<D1PreparedStatement>) -> Result<Vec<usize>> {
        if statements.is_empty() {
            return Ok(Vec::new());
        }
        self.meter.count(statements.len());
        let results = self
            .d1
            .batch(statements)
            .await
            .map_err(|e| Error::internal(format!("batch: {e}")))?;
        Ok(results
            .iter()
            .map(|r| r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0))
            .collect())
    }
}

/// D1 binds at most 100 parameters to one statement: an `IN (…)` list is cut into pieces of at
/// most this many values, which leaves room for the statement's other parameters.
pub const IN_LIST: usize = 90;

/// `?, ?, …`: the placeholders of an `IN (…)` list of `n` values.
pub fn marks(n: usize) -> String {
    let mut out = String::with_capacity(n * 3);
    for i in 0..n {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('?');
    }
    out
}

impl Db {
    /// One query over any number of values, as statements of at most [`IN_LIST`] values each:
    /// `sql` has `{in}` where the list's placeholders go, `before` binds the parameters ahead of
    /// it. Read them in one round trip with [`Db::read_batch`] (or [`Db::all_in`]).
    pub fn in_statements<V: AsRef<str>>(
        &self,
        sql: &str,
        before: &[Arg],
        values: &[V],
    ) -> Result<Vec<D1PreparedStatement>> {
        values
            .chunks(IN_LIST)
            .map(|chunk| {
                let mut args = before.to_vec();
                args.extend(chunk.iter().map(|v| Arg::from(v.as_ref())));
                self.stmt(&sql.replace("{in}", &marks(chunk.len())), args)
            })
            .collect()
    }

    /// The rows of [`Db::in_statements`], every piece read in one round trip.
    pub async fn all_in<T: DeserializeOwned, V: AsRef<str>>(
        &self,
        sql: &str,
        before: &[Arg],
        values: &[V],
    ) -> Result<Vec<T>> {
        let reads = self.in_statements(sql, before, values)?;
        let mut out = Vec::new();
        for piece in self.read_batch(reads).await? {
            out.extend(rows::<T>(sql, piece)?);
        }
        Ok(out)
    }
}

/// The rows of one read in a [`Db::read_batch`], as `T`.
pub fn rows<T: DeserializeOwned>(what: &str, rows: Vec<Value>) -> Result<Vec<T>> {
    rows.into_iter().map(|row| from_row(what, row)).collect()
}

fn from_row<T: DeserializeOwned>(sql: &str, row: Value) -> Result<T> {
    serde_json::from_value(row).map_err(|e| Error::internal(format!("row of `{}`: {e}", head(sql))))
}

fn head(sql: &str) -> String {
    sql.split_whitespace().take(6).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_in_list_has_one_mark_per_value() {
        assert_eq!(marks(0), "");
        assert_eq!(marks(1), "?");
        assert_eq!(marks(3), "?, ?, ?");
        assert_eq!(marks(IN_LIST).matches('?').count(), IN_LIST);
    }
}
