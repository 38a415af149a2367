//! Calls from one handler to another through service bindings.
//!
//! The callee sees the same request id (one id follows a lead through intake, scoring and
//! routing) and a system principal naming the caller. Only `/internal/...` routes are called
//! this way; the gateway never forwards them from outside.

use revops::auth::Principal;
use revops::routes::{Method, Service};
use serde::de::DeserializeOwned;
use serde_json::Value;
use worker::{Env, Headers, Request, RequestInit};

use crate::cx::Cx;
use crate::error::{Context, Error, Result};
use crate::http::{PRINCIPAL, REQUEST_ID};

/// What another handler answered.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// What the call cost in D1, the callee's downstream calls included.
    pub d1: crate::db::Cost,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as `T` if the call succeeded; otherwise an internal error naming the callee.
    pub fn into_result<T: DeserializeOwned>(self, target: Service) -> Result<T> {
        if !self.ok() {
            return Err(Error::internal(format!(
                "{} answered {}: {}",
                target.name(),
                self.status,
                self.body
            )));
        }
        serde_json::from_value(self.body).context(target.name())
    }
}

/// Calls `target` at `path` with an optional JSON body, as `from`'s system principal.
pub async fn call(
    env: &Env,
    from: Service,
    request_id: &str,
    target: Service,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Reply> {
    let system = Principal::system(from.name());
    call_as(env, &system, request_id, target, method, path, body).await
}

/// Calls `target` at `path` as `principal`: the callee authorizes the route against that
/// principal's scopes exactly as it would a request the gateway forwarded. (The console reads
/// the handlers' APIs this way, with the signed-in key's principal.)
pub async fn call_as(
    env: &Env,
    principal: &Principal,
    request_id: &str,
    target: Service,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Reply> {
    let headers = Headers::new();
    headers.set(REQUEST_ID, request_id)?;
    headers.set(PRINCIPAL, &serde_json::to_string(principal)?)?;
    let mut init = RequestInit::new();
    init.with_method(match method {
        Method::Get => worker::Method::Get,
        Method::Post => worker::Method::Post,
        Method::Put => worker::Method::Put,
        Method::Patch => worker::Method::Patch,
        Method::Delete => worker::Method::Delete,
        Method::Options => worker::Method::Options,
    });
    if let Some(body) = body {
        headers.set("content-type", "application/json")?;
        init.with_body(Some(body.to_string().into()));
    }
    init.with_headers(headers);
    let url = format!("https://{}.internal{path}", target.name());
    let request = Request::new_with_init(&url, &init)?;
    let mut response = env
        .service(target.binding())
        .context(target.binding())?
        .fetch_request(request)
        .await
        .context(&format!("calling {} {path}", target.name()))?;
    let status = response.status_code();
    let d1 = crate::db::Cost::from_headers(response.headers());
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok(Reply { status, body, d1 })
}

impl Cx {
    /// Calls `target` at `path` as this handler's system principal, with this request's id.
    pub async fn call(
        &self,
        target: Service,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply> {
        let system = Principal::system(self.service.name());
        self.call_as(&system, target, method, path, body).await
    }

    /// [`Cx::call`] as `principal` (see [`call_as`]); what it cost in D1 joins this request's.
    pub async fn call_as(
        &self,
        principal: &Principal,
        target: Service,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply> {
        let reply = call_as(
            &self.env,
            principal,
            &self.request_id,
            target,
            method,
            path,
            body,
        )
        .await?;
        self.db.meter().add_downstream(reply.d1);
        Ok(reply)
    }

    /// Calls `target` and deserializes a 2xx answer; anything else is an internal error.
    pub async fn call_ok<T: DeserializeOwned>(
        &self,
        target: Service,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T> {
        self.call(target, method, path, body)
            .await?
            .into_result(target)
    }
}
