//! The sla handler.

use revops::routes::Service;
use worker::{event, Context, Env, Request, Response};

use platform::{Cx, Error, Result};

const SERVICE: Service = Service::Sla;
static SPEC: platform::Spec = platform::Spec {
    service: SERVICE,
    kv: &["CONFIG"],
    secrets: &[],
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    platform::serve(req, env, ctx, &SPEC, route).await
}

async fn route(cx: Cx, _req: Request) -> Result<Response> {
    Err(Error::internal(format!(
        "{} has no handler for {:?}",
        SERVICE.name(),
        cx.route.id
    )))
}
