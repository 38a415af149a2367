//! The console's reads: the handlers' own APIs, called through service bindings as the
//! signed-in key's principal, so each handler authorizes every read exactly as it would the
//! same call from outside. The console never reads those handlers' tables itself.

use revops::auth::Principal;
use revops::problem::ProblemKind;
use revops::routes::{Method, Service};
use serde::de::DeserializeOwned;
use serde_json::Value;

use platform::services::Reply;
use platform::{problem, Cx, Result};

pub struct Api<'a> {
    pub cx: &'a Cx,
    pub principal: &'a Principal,
}

impl Api<'_> {
    async fn call(
        &self,
        target: Service,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply> {
        self.cx
            .call_as(self.principal, target, method, path, body)
            .await
    }

    async fn get(&self, target: Service, path: &str) -> Result<Reply> {
        self.call(target, Method::Get, path, None).await
    }

    /// A change made through the owner's API (publish, rollback, reassign): the reply as it
    /// came, so the page can show the API's own words when it refuses.
    pub async fn post(&self, target: Service, path: &str, body: &Value) -> Result<Reply> {
        self.call(target, Method::Post, path, Some(body)).await
    }

    /// A read the page cannot do without: a refusal for want of a scope is the page's 403, a
    /// missing resource its 404; anything else is an internal error naming the call.
    pub async fn must<T: DeserializeOwned>(&self, target: Service, path: &str) -> Result<T> {
        let reply = self.get(target, path).await?;
        match reply.status {
            403 => Err(problem(
                ProblemKind::Forbidden,
                detail(&reply, "this key may not read that"),
            )),
            404 => Err(problem(ProblemKind::NotFound, detail(&reply, "not found"))),
            _ => reply.into_result(target),
        }
    }

    /// A read the page can show without: `None` when the key may not read it (the page says
    /// which scope it needs) or there is nothing (a lead never scored).
    pub async fn may(&self, target: Service, path: &str) -> Result<Option<Value>> {
        let reply = self.get(target, path).await?;
        match reply.status {
            403 | 404 => Ok(None),
            _ => reply.into_result(target).map(Some),
        }
    }
}

fn detail(reply: &Reply, fallback: &str) -> String {
    reply.body["detail"]
        .as_str()
        .unwrap_or(fallback)
        .to_string()
}
