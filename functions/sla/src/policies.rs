//! The SLA policy as versioned configuration: list, get, publish, rollback.

use worker::{Request, Response};

use crate::store::POLICIES;
use platform::versions::nothing_more;
use platform::{http, Cx, Result};

pub async fn publish(cx: &Cx, mut req: Request) -> Result<Response> {
    http::json(201, &POLICIES.publish(cx, &mut req, nothing_more).await?)
}

pub async fn rollback(cx: &Cx, mut req: Request) -> Result<Response> {
    http::json(200, &POLICIES.rollback(cx, &mut req, nothing_more).await?)
}

pub async fn list(cx: &Cx) -> Result<Response> {
    http::json(200, &POLICIES.list(cx).await?)
}

pub async fn get(cx: &Cx) -> Result<Response> {
    http::json(200, &POLICIES.get(cx).await?)
}
