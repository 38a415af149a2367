//! `GET /v1/reports/funnel`: the period's funnel beside the previous period's, by the
//! definitions in `revops::scoring::funnel` — the numbers the console's overview shows.

use revops::scoring::funnel::{self, Funnel};
use revops::time::rfc3339;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::store;
use platform::{http, Cx, Error, Result};

const DAY_MS: i64 = 86_400_000;

pub async fn funnel(cx: &Cx, req: &Request) -> Result<Response> {
    let (from, to) = revops::time::window(
        http::query_time(req, "from")?,
        http::query_time(req, "to")?,
        cx.now_ms,
        30 * DAY_MS,
    )
    .map_err(|e| Error::Problem(revops::problem::Problem::validation(vec![e])))?;
    let previous = funnel::previous_period(from, to);
    let mut rows = store::funnel_rows(cx, &[(from, to), previous])
        .await?
        .into_iter();
    let this = funnel::funnel(&rows.next().unwrap_or_default());
    let before = funnel::funnel(&rows.next().unwrap_or_default());
    http::json(
        200,
        &json!({
            "period": view(from, to, &this),
            "previous": view(previous.0, previous.1, &before),
        }),
    )
}

fn view(from: i64, to: i64, f: &Funnel) -> Value {
    let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
    v["from"] = rfc3339(from).into();
    v["to"] = rfc3339(to).into();
    v
}
