//! Stored configuration managed through the admin API — registered forms, webhook sources, and
//! any other "a document per id" configuration: create, replace, read, list, cached in KV.
//!
//! One implementation serves every kind: the kind supplies its table, its validation (a domain
//! function from the submitted JSON, and the stored one on updates, to the JSON to store) and its
//! view. Handlers read a configuration on their hot path with [`Resource::load`].

use revops::problem::{FieldError, Problem};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::cx::Cx;
use crate::error::{Error, Result};
use crate::{args, cache, http};

/// Where documents of one kind are stored: what a handler needs to read them.
pub struct Store {
    /// A table with columns `id`, `config` (JSON), `created_at`, `created_by`, `updated_at`.
    pub table: &'static str,
    pub id_prefix: &'static str,
    /// What one is called in messages ("form").
    pub what: &'static str,
}

/// A kind of document as the admin API manages it. Kept apart from [`Store`] so that workers
/// which only read documents do not link the validation and views.
pub struct Resource {
    pub store: &'static Store,
    /// The route parameter naming the id.
    pub param: &'static str,
    /// The key of the list in `GET` responses ("forms").
    pub plural: &'static str,
    /// Checks a submitted configuration (with the stored one, on updates) and returns what to store.
    pub validate: fn(Value, Option<&Value>) -> std::result::Result<Value, Vec<FieldError>>,
    /// What the API shows for a stored configuration.
    pub view: fn(&str, &Value) -> Value,
}

impl Store {
    fn cache_key(&self, id: &str) -> String {
        format!("{}:{id}", self.table)
    }

    fn not_found(&self, id: &str) -> Error {
        Error::Problem(Problem::not_found(format!("{} {id}", self.what)))
    }

    /// The stored configuration, as JSON (cache, then D1).
    pub async fn load_value(&self, cx: &Cx, id: &str) -> Result<Option<Value>> {
        if !revops::ids::is_id(self.id_prefix, id) {
            return Ok(None);
        }
        let sql = format!("SELECT config FROM {} WHERE id = ?", self.table);
        cache::get_or_load(cx, &self.cache_key(id), &sql, id).await
    }

    /// The stored configuration as its domain type.
    pub async fn load<T: DeserializeOwned>(&self, cx: &Cx, id: &str) -> Result<Option<T>> {
        match self.load_value(cx, id).await? {
            Some(v) => Ok(Some(serde_json::from_value(v)?)),
            None => Ok(None),
        }
    }
}

impl Resource {
    async fn submitted(&self, req: &mut Request, previous: Option<&Value>) -> Result<Value> {
        let body: Value = http::json_body(req, 256 * 1024).await?;
        (self.validate)(body, previous).map_err(|e| Error::Problem(Problem::validation(e)))
    }

    async fn save(&self, cx: &Cx, id: &str, config: &Value, create: bool) -> Result<()> {
        let store = self.store;
        let text = config.to_string();
        if create {
            cx.db
                .run(
                    &format!("INSERT INTO {} (id, config, created_at, created_by, updated_at) VALUES (?, ?, ?, ?, ?)", store.table),
                    args![id, text, cx.now_ms, cx.actor(), cx.now_ms],
                )
                .await?;
        } else {
            cx.db
                .run(
                    &format!(
                        "UPDATE {} SET config = ?, updated_at = ? WHERE id = ?",
                        store.table
                    ),
                    args![text, cx.now_ms, id],
                )
                .await?;
        }
        cache::put(cx, &store.cache_key(id), config).await
    }

    pub async fn create(&self, cx: &Cx, mut req: Request) -> Result<Response> {
        let config = self.submitted(&mut req, None).await?;
        let id = cx.new_id(self.store.id_prefix);
        self.save(cx, &id, &config, true).await?;
        http::json(201, &(self.view)(&id, &config))
    }

    /// Replaces a configuration.
    pub async fn update(&self, cx: &Cx, mut req: Request) -> Result<Response> {
        let id = cx.param(self.param).to_string();
        let current = self
            .store
            .load_value(cx, &id)
            .await?
            .ok_or_else(|| self.store.not_found(&id))?;
        let config = self.submitted(&mut req, Some(&current)).await?;
        self.save(cx, &id, &config, false).await?;
        http::json(200, &(self.view)(&id, &config))
    }

    pub async fn get(&self, cx: &Cx) -> Result<Response> {
        let id = cx.param(self.param);
        let config = self
            .store
            .load_value(cx, id)
            .await?
            .ok_or_else(|| self.store.not_found(id))?;
        http::json(200, &(self.view)(id, &config))
    }

    pub async fn list(&self, cx: &Cx) -> Result<Response> {
        #[derive(Deserialize)]
        struct Row {
            id: String,
            config: String,
        }
        let rows: Vec<Row> = cx
            .db
            .all(
                &format!(
                    "SELECT id, config FROM {} ORDER BY created_at DESC",
                    self.store.table
                ),
                vec![],
            )
            .await?;
        let items: Vec<Value> = rows
            .iter()
            .filter_map(|r| {
                serde_json::from_str::<Value>(&r.config)
                    .ok()
                    .map(|c| (self.view)(&r.id, &c))
            })
            .collect();
        http::json(200, &json!({ self.plural: items }))
    }
}
