//! Configuration as a versioned operational parameter: scoring models, routing rules, SLA
//! policies. Every published version is kept forever with who, when and why; every publish and
//! rollback is an activation; the active version is cached in KV. Version 0 is the kind's
//! built-in default, active until something is published.

use revops::problem::{FieldError, Problem};
use revops::time::rfc3339;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{D1PreparedStatement, Request};

use crate::cx::Cx;
use crate::error::{Error, Result};
use crate::retry::Attempt;
use crate::{args, cache, http};

/// Scoring models (version 0 is the built-in model). Owned by the scoring handler; others read
/// the active one (routing explains a lead that is not an MQL yet against its threshold).
pub static SCORING_MODELS: Versioned = Versioned {
    kind: "scoring",
    field: "model",
    builtin: revops::scoring::BUILTIN,
    validate: revops::scoring::Model::validate_json,
};

/// Routing rules (version 0 is the built-in configuration). Owned by the routing handler.
pub static ROUTING_CONFIGS: Versioned = Versioned {
    kind: "routing",
    field: "config",
    builtin: revops::routing::BUILTIN,
    validate: revops::routing::validate,
};

/// SLA policies (version 0 is the built-in policy). Owned by the SLA handler.
pub static SLA_POLICIES: Versioned = Versioned {
    kind: "sla",
    field: "policy",
    builtin: revops::sla::BUILTIN,
    validate: revops::sla::validate,
};

pub struct Versioned {
    /// `scoring`, `routing`, `sla`.
    pub kind: &'static str,
    /// What the API calls the document (`model`, `config`, `policy`), in bodies and errors.
    pub field: &'static str,
    /// The built-in document (version 0).
    pub builtin: &'static str,
    /// Checks a document; returns it as it will be stored.
    pub validate: fn(&Value) -> std::result::Result<Value, Vec<FieldError>>,
}

#[derive(Serialize, Deserialize)]
struct Active {
    version: i64,
    document: Value,
}

#[derive(Deserialize)]
struct VersionRow {
    version: i64,
    name: String,
    published_at: i64,
    published_by: String,
    reason: String,
}

impl Versioned {
    fn cache_key(&self) -> String {
        format!("versions:{}:active", self.kind)
    }

    /// Wraps a validation error list under the document's field name.
    pub fn invalid(&self, errors: Vec<FieldError>) -> Error {
        Error::Problem(Problem::validation(
            errors
                .into_iter()
                .map(|e| {
                    let field = if e.field.is_empty() {
                        self.field.to_string()
                    } else {
                        format!("{}.{}", self.field, e.field)
                    };
                    FieldError::new(field, e.reason)
                })
                .collect(),
        ))
    }

    /// A request about a version holds its own keys only (see [`only_keys`]).
    pub fn only_keys(&self, body: &Value, keys: &[&str]) -> Result<()> {
        only_keys(body, keys)
    }

    pub fn check(&self, doc: &Value) -> Result<Value> {
        (self.validate)(doc).map_err(|e| self.invalid(e))
    }

    /// The active version and its document.
    pub async fn active(&self, cx: &Cx) -> Result<(i64, Value)> {
        if let Some(text) = cx.kv(cache::CONFIG)?.get(&self.cache_key()).text().await? {
            if let Ok(a) = serde_json::from_str::<Active>(&text) {
                return Ok((a.version, a.document));
            }
        }
        #[derive(Deserialize)]
        struct Row {
            version: i64,
            document: Option<String>,
        }
        let row: Option<Row> = cx
            .db
            .first(
                "SELECT a.version AS version, v.document AS document FROM config_activations a \
                 LEFT JOIN config_versions v ON v.kind = a.kind AND v.version = a.version \
                 WHERE a.kind = ? ORDER BY a.id DESC LIMIT 1",
                args![self.kind],
            )
            .await?;
        let active = match row {
            Some(Row {
                version,
                document: Some(d),
            }) => Active {
                version,
                document: serde_json::from_str(&d)?,
            },
            _ => Active {
                version: 0,
                document: serde_json::from_str(self.builtin)?,
            },
        };
        cache::put(cx, &self.cache_key(), &active).await?;
        Ok((active.version, active.document))
    }

    /// A version's document (0: the built-in one).
    pub async fn document(&self, cx: &Cx, version: i64) -> Result<Option<Value>> {
        if version == 0 {
            return Ok(Some(serde_json::from_str(self.builtin)?));
        }
        #[derive(Deserialize)]
        struct Row {
            document: String,
        }
        let row: Option<Row> = cx
            .db
            .first(
                "SELECT document FROM config_versions WHERE kind = ? AND version = ?",
                args![self.kind, version],
            )
            .await?;
        row.map(|r| Ok(serde_json::from_str(&r.document)?))
            .transpose()
    }

    fn view(&self, r: &VersionRow, active: i64) -> Value {
        json!({
            "version": r.version,
            "name": r.name,
            "published_at": rfc3339(r.published_at),
            "published_by": r.published_by,
            "reason": r.reason,
            "active": r.version == active,
        })
    }

    /// Every version, the active one, and the activation history.
    pub async fn list(&self, cx: &Cx) -> Result<Value> {
        let (active, _) = self.active(cx).await?;
        let rows: Vec<VersionRow> = cx
            .db
            .all(
                "SELECT version, name, published_at, published_by, reason FROM config_versions WHERE kind = ? ORDER BY version DESC",
                args![self.kind],
            )
            .await?;
        #[derive(Deserialize)]
        struct Activation {
            version: i64,
            action: String,
            at: i64,
            by: String,
            reason: String,
        }
        let activations: Vec<Activation> = cx
            .db
            .all(
                "SELECT version, action, at, by, reason FROM config_activations WHERE kind = ? ORDER BY id DESC LIMIT 100",
                args![self.kind],
            )
            .await?;
        Ok(json!({
            "active_version": active,
            "versions": rows.iter().map(|r| self.view(r, active)).collect::<Vec<_>>(),
            "activations": activations
                .iter()
                .map(|a| json!({ "version": a.version, "kind": a.action, "at": rfc3339(a.at), "by": a.by, "reason": a.reason }))
                .collect::<Vec<_>>(),
        }))
    }

    /// One version with its document, by the `version` path parameter.
    pub async fn get(&self, cx: &Cx) -> Result<Value> {
        let raw = cx.param("version");
        let not_found =
            || Error::Problem(Problem::not_found(format!("{} version {raw}", self.kind)));
        let version: i64 = raw.parse().map_err(|_| not_found())?;
        let (active, _) = self.active(cx).await?;
        let document = self.document(cx, version).await?.ok_or_else(not_found)?;
        if version == 0 {
            return Ok(
                json!({ "version": 0, "name": document["name"], "active": active == 0, "published_by": "revops-edge", "reason": "built-in default", self.field: document }),
            );
        }
        let row: VersionRow = cx
            .db
            .first(
                "SELECT version, name, published_at, published_by, reason FROM config_versions WHERE kind = ? AND version = ?",
                args![self.kind, version],
            )
            .await?
            .ok_or_else(not_found)?;
        let mut view = self.view(&row, active);
        view[self.field] = document;
        Ok(view)
    }

    /// Records an activation (with `extra` statements in the same batch) and refreshes the cache.
    async fn activate(
        &self,
        cx: &Cx,
        version: i64,
        document: &Value,
        action: &str,
        reason: &str,
        extra: Vec<D1PreparedStatement>,
    ) -> Result<()> {
        let mut batch = vec![cx.db.stmt(
            "INSERT INTO config_activations (kind, version, action, at, by, reason) VALUES (?, ?, ?, ?, ?, ?)",
            args![self.kind, version, action, cx.now_ms, cx.actor(), reason],
        )?];
        batch.extend(extra);
        cx.db.batch(batch).await?;
        cache::put(
            cx,
            &self.cache_key(),
            &Active {
                version,
                document: document.clone(),
            },
        )
        .await
    }

    /// `{"<field>": {...}, "reason": "..."}` → a new active version. `extra` gives statements to
    /// commit with the activation (a rescoring job) and what to add to the answer.
    pub async fn publish(
        &self,
        cx: &Cx,
        req: &mut Request,
        extra: impl Fn(&Cx, i64) -> Result<(Vec<D1PreparedStatement>, Value)>,
    ) -> Result<Value> {
        let body: Value = http::json_body(req, 512 * 1024).await?;
        self.publish_body(cx, &body, extra).await
    }

    /// [`Versioned::publish`] with the body already read (a handler that checks more first).
    pub async fn publish_body(
        &self,
        cx: &Cx,
        body: &Value,
        extra: impl Fn(&Cx, i64) -> Result<(Vec<D1PreparedStatement>, Value)>,
    ) -> Result<Value> {
        self.only_keys(body, &[self.field, "reason"])?;
        let reason = reason_of(body)?;
        let document = self.check(body.get(self.field).unwrap_or(&Value::Null))?;
        let name = document["name"].as_str().unwrap_or("").to_string();
        #[derive(Deserialize)]
        struct Next {
            next: i64,
        }
        let what = format!("publishing a {} version", self.kind);
        crate::retry::optimistic(crate::retry::contended(what), async |_| {
            let next: Next = cx
                .db
                .first("SELECT COALESCE(MAX(version), 0) + 1 AS next FROM config_versions WHERE kind = ?", args![self.kind])
                .await?
                .unwrap_or(Next { next: 1 });
            let inserted = cx
                .db
                .run(
                    "INSERT INTO config_versions (kind, version, name, document, published_at, published_by, reason) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    args![self.kind, next.next, &name, document.to_string(), cx.now_ms, cx.actor(), &reason],
                )
                .await?;
            if inserted == 1 {
                let (stmts, more) = extra(cx, next.next)?;
                self.activate(cx, next.next, &document, "publish", &reason, stmts)
                    .await?;
                cx.log(
                    revops::logging::Level::Info,
                    "config.published",
                    json!({ "kind": self.kind, "version": next.next, "by": cx.actor() }),
                );
                let mut out = json!({
                    "version": next.next,
                    "name": name,
                    "published_at": rfc3339(cx.now_ms),
                    "published_by": cx.actor(),
                    "reason": reason,
                    "active": true,
                });
                merge(&mut out, more);
                return Ok(Attempt::Done(out));
            }
            Ok(Attempt::Again)
        })
        .await
    }

    /// `{"version": n, "reason": "..."}` → makes an earlier version active again.
    pub async fn rollback(
        &self,
        cx: &Cx,
        req: &mut Request,
        extra: impl Fn(&Cx, i64) -> Result<(Vec<D1PreparedStatement>, Value)>,
    ) -> Result<Value> {
        let body: Value = http::json_body(req, 16 * 1024).await?;
        self.only_keys(&body, &["version", "reason"])?;
        let reason = reason_of(&body)?;
        let version = body["version"].as_i64().ok_or_else(|| {
            Error::Problem(Problem::validation(vec![FieldError::new(
                "version",
                "give the version number to activate",
            )]))
        })?;
        let document = self.document(cx, version).await?.ok_or_else(|| {
            Error::Problem(Problem::not_found(format!(
                "{} version {version}",
                self.kind
            )))
        })?;
        let (stmts, more) = extra(cx, version)?;
        self.activate(cx, version, &document, "rollback", &reason, stmts)
            .await?;
        let mut out = json!({ "active_version": version, "reason": reason });
        merge(&mut out, more);
        Ok(out)
    }
}

/// The four routes every versioned configuration has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `GET …`: every version with who, when and why.
    List,
    /// `GET …/{version}`: one version's document.
    Get,
    /// `POST …` `{"<field>": {...}, "reason": "..."}`: a new version, activated.
    Publish,
    /// `POST …/rollback` `{"version": n, "reason": "..."}`: an earlier version, activated again.
    Rollback,
}

/// What commits with an activation besides the activation itself (given the version
/// activated), and what it adds to the answer.
pub type Extra = fn(&Cx, i64) -> Result<(Vec<D1PreparedStatement>, Value)>;

impl Versioned {
    /// Serves one of the [`Op`] routes: a handler's route table calls this directly.
    pub async fn serve(
        &self,
        cx: &Cx,
        mut req: Request,
        op: Op,
        extra: Extra,
    ) -> Result<worker::Response> {
        match op {
            Op::List => http::json(200, &self.list(cx).await?),
            Op::Get => http::json(200, &self.get(cx).await?),
            Op::Publish => http::json(201, &self.publish(cx, &mut req, extra).await?),
            Op::Rollback => http::json(200, &self.rollback(cx, &mut req, extra).await?),
        }
    }
}

/// For [`Versioned::publish`] and [`Versioned::rollback`] when nothing else is committed with
/// the activation.
pub fn nothing_more(_: &Cx, _: i64) -> Result<(Vec<D1PreparedStatement>, Value)> {
    Ok((Vec::new(), json!({})))
}

/// Longest reason kept with a version.
pub const MAX_REASON_CHARS: usize = 1000;

/// A request about a version holds its own keys only: `reasons` beside `config` is a typo to
/// refuse, not to ignore.
pub fn only_keys(body: &Value, keys: &[&str]) -> Result<()> {
    let extra: Vec<FieldError> = body
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .filter(|k| !keys.contains(&k.as_str()))
        .map(|k| {
            FieldError::new(
                k.clone(),
                format!("is not a field here; use {}", keys.join(", ")),
            )
        })
        .collect();
    if extra.is_empty() {
        Ok(())
    } else {
        Err(Error::Problem(Problem::validation(extra)))
    }
}

/// The `reason` of a change (required, at most [`MAX_REASON_CHARS`]), or a 422 naming it.
pub fn reason_of(body: &Value) -> Result<String> {
    match body["reason"].as_str().map(str::trim) {
        Some(r) if r.chars().count() > MAX_REASON_CHARS => {
            Err(Error::Problem(Problem::validation(vec![FieldError::new(
                "reason",
                format!("at most {MAX_REASON_CHARS} characters"),
            )])))
        }
        Some(r) if !r.is_empty() => Ok(r.to_string()),
        _ => Err(Error::Problem(Problem::validation(vec![FieldError::new(
            "reason",
            "say why (it is kept with the version)",
        )]))),
    }
}

fn merge(out: &mut Value, more: Value) {
    if let (Value::Object(o), Value::Object(m)) = (out, more) {
        o.extend(m);
    }
}
