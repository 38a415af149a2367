//! Helpers for the integration tests: a typed HTTP client for the running system.
//!
//! `make test` (scripts/test.sh) starts the real local runtime and sets `REVOPS_BASE_URL` and
//! `REVOPS_ADMIN_KEY`; you can also point the tests at a `make dev` session by exporting those
//! two yourself. Every response a test receives is checked against `openapi.json`: its status
//! must be documented for that operation and its body must match the documented schema — so the
//! description stays true as long as the tests pass.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::{json, Value};

pub mod openapi;
pub mod receiver;

/// The running system.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub admin_key: String,
}

pub fn api() -> Api {
    let base = std::env::var("REVOPS_BASE_URL").unwrap_or_else(|_| {
        panic!("REVOPS_BASE_URL is not set: run the integration tests through `make test`, or export REVOPS_BASE_URL and REVOPS_ADMIN_KEY for a running `make dev`")
    });
    let admin_key = std::env::var("REVOPS_ADMIN_KEY").expect("REVOPS_ADMIN_KEY is not set");
    Api {
        base: base.trim_end_matches('/').to_string(),
        admin_key,
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Serialises the tests of one test binary that must not overlap (they share the system's
/// global state: the cron's effects, `/health`, the active configuration).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A unique suffix for test data, so tests sharing one runtime never see each other's rows.
pub fn unique(prefix: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}{}{n}",
        revops::ids::base32(&(nanos as u64).to_be_bytes())
    )
}

/// Working hours of every day, all day, in UTC: a schedule that is always open, for tests whose
/// deadlines count plain minutes.
pub fn all_day_utc() -> Value {
    let day = "00:00-24:00";
    json!({"timezone": "UTC", "hours": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day}})
}

/// A unique email address at `domain`.
pub fn email(domain: &str) -> String {
    format!("{}@{domain}", unique("t"))
}

impl Api {
    pub fn request(&self, method: &str, path: &str) -> Req {
        Req {
            method: method.to_string(),
            url: format!("{}{path}", self.base),
            path: path.to_string(),
            headers: Vec::new(),
            body: None,
            validate: true,
        }
    }

    pub fn get(&self, path: &str) -> Req {
        self.request("GET", path)
    }
    pub fn post(&self, path: &str) -> Req {
        self.request("POST", path)
    }
    pub fn put(&self, path: &str) -> Req {
        self.request("PUT", path)
    }
    pub fn patch(&self, path: &str) -> Req {
        self.request("PATCH", path)
    }
    pub fn delete(&self, path: &str) -> Req {
        self.request("DELETE", path)
    }

    /// Creates an API key with these scopes (as admin) and returns its secret.
    pub fn key_with(&self, scopes: &[&str]) -> String {
        let res = self
            .post("/v1/admin/keys")
            .bearer(&self.admin_key)
            .json(&json!({ "name": unique("test-key-"), "scopes": scopes }))
            .send();
        assert_eq!(res.status, 201, "{}", res.text());
        res.json()["key"].as_str().unwrap().to_string()
    }

    /// Creates a lead through `POST /v1/leads` (expecting 201) and returns its id.
    pub fn new_lead(&self, body: &Value) -> String {
        let res = self
            .post("/v1/leads")
            .bearer(&self.admin_key)
            .json(body)
            .send();
        assert_eq!(res.status, 201, "{}", res.text());
        res.json()["id"].as_str().unwrap().to_string()
    }

    /// Publishes a versioned document (`/v1/admin/scoring/models` with key `model`,
    /// `/v1/admin/routing/configs` with key `config`) and returns its version.
    pub fn publish(&self, path: &str, key: &str, doc: Value) -> i64 {
        let res = self
            .post(path)
            .bearer(&self.admin_key)
            .json(&json!({ key: doc, "reason": "integration test" }))
            .send();
        assert_eq!(res.status, 201, "{}", res.text());
        res.json()["version"].as_i64().unwrap()
    }

    /// Fires the cron trigger (the gateway's scheduled handler) as if at `time_ms`. The runtime's
    /// `/cdn-cgi/handler/scheduled` passes `time` on as the event's scheduled time, which the
    /// handlers use as `now` (`/__scheduled` would not).
    pub fn fire_cron_at(&self, time_ms: Option<i64>) -> Resp {
        self.fire_schedule("*+*+*+*+*", time_ms)
    }

    /// Fires the trigger with another schedule expression: with the test runtime's
    /// `ALLOW_FAULT_INJECTION`, `inject-fault:<handler>` makes that handler's tick fail.
    pub fn fire_schedule(&self, cron: &str, time_ms: Option<i64>) -> Resp {
        let mut path = format!("/cdn-cgi/handler/scheduled?cron={cron}");
        if let Some(t) = time_ms {
            path.push_str(&format!("&time={t}"));
        }
        self.get(&path).unchecked().send()
    }
}

pub struct Req {
    method: String,
    url: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    validate: bool,
}

impl Req {
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn bearer(self, key: &str) -> Req {
        self.header("authorization", &format!("Bearer {key}"))
    }

    pub fn json(self, body: &Value) -> Req {
        self.header("content-type", "application/json")
            .body(body.to_string().into_bytes())
    }

    /// A urlencoded form body, as a plain HTML `<form>` posts it.
    pub fn form(self, fields: &[(&str, &str)]) -> Req {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body.into_bytes())
    }

    /// A multipart/form-data body, as a `<form enctype="multipart/form-data">` posts it.
    pub fn multipart(self, fields: &[(&str, &str)]) -> Req {
        let boundary = "----revopsTestBoundary7MA4YWxkTrZu0gW";
        let mut body = String::new();
        for (k, v) in fields {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
            ));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        self.header(
            "content-type",
            &format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body.into_bytes())
    }

    pub fn body(mut self, body: Vec<u8>) -> Req {
        self.body = Some(body);
        self
    }

    /// Skips the OpenAPI check (for endpoints outside the API, like the runtime's `/__scheduled`).
    pub fn unchecked(mut self) -> Req {
        self.validate = false;
        self
    }

    pub fn send(self) -> Resp {
        let agent = agent();
        let mut request = agent.request(&self.method, &self.url);
        for (k, v) in &self.headers {
            request = request.set(k, v);
        }
        let result = match &self.body {
            Some(body) => request.send_bytes(body),
            None => request.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{} {} failed: {e}", self.method, self.url),
        };
        let status = response.status();
        let mut headers = HashMap::new();
        for name in response.headers_names() {
            if let Some(v) = response.header(&name) {
                headers.insert(name.to_ascii_lowercase(), v.to_string());
            }
        }
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut body).unwrap();
        let resp = Resp {
            status,
            headers,
            body,
        };
        if self.validate {
            openapi::check(&self.method, &self.path, &resp);
        }
        resp
    }
}

fn agent() -> ureq::Agent {
    static AGENT: OnceLock<Mutex<Option<ureq::Agent>>> = OnceLock::new();
    let cell = AGENT.get_or_init(|| Mutex::new(None));
    let mut guard = cell.lock().unwrap();
    guard
        .get_or_insert_with(|| {
            ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(60))
                .redirects(0)
                .build()
        })
        .clone()
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// Asserts an RFC 9457 problem of this type and status, and returns its body.
    pub fn assert_problem(&self, status: u16, slug: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text()
        );
        let body = self.json();
        assert_eq!(body["type"], format!("/problems/{slug}"), "{body}");
        assert_eq!(body["status"], status);
        assert_eq!(
            Some(body["request_id"].as_str().unwrap()),
            self.header("x-request-id")
        );
        body
    }
}

/// Reads the local runtime's storage the way an auditor would, through Wrangler: every row of
/// every D1 table, every KV key, and every KV value (the blob files of the local KV store).
/// Needs `REVOPS_STATE_DIR` and `REVOPS_CONFIG_DIR` (set by scripts/test.sh).
pub mod storage {
    use serde_json::Value;
    use std::process::Command;

    fn env(name: &str) -> String {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run through `make test`"))
    }

    fn wrangler(args: &[&str]) -> Value {
        let out = Command::new("wrangler")
            .args(args)
            .args(["--local", "--persist-to", &env("REVOPS_STATE_DIR")])
            .env("WRANGLER_SEND_METRICS", "false")
            .output()
            .expect("wrangler runs (PATH from scripts/toolchain.sh)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "wrangler {args:?}: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
        let start = text.find(['[', '{']).unwrap_or(0);
        serde_json::from_str(&text[start..])
            .unwrap_or_else(|e| panic!("wrangler {args:?} printed no JSON ({e}): {text}"))
    }

    fn d1(sql: &str) -> Value {
        let config = format!("{}/gateway.toml", env("REVOPS_CONFIG_DIR"));
        wrangler(&[
            "d1",
            "execute",
            "revops",
            "-c",
            &config,
            "--json",
            "--command",
            sql,
        ])
    }

    /// Every D1 table with all its rows: (table, rows as JSON text).
    pub fn d1_tables() -> Vec<(String, String)> {
        let tables = d1("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name");
        let names: Vec<String> = tables[0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect();
        let sql: Vec<String> = names.iter().map(|n| format!("SELECT * FROM {n}")).collect();
        let results = d1(&sql.join("; "));
        names
            .into_iter()
            .zip(results.as_array().unwrap())
            .map(|(n, r)| (n, r["results"].to_string()))
            .collect()
    }

    /// Every key of a KV namespace binding (as configured for `worker`).
    pub fn kv_keys(worker: &str, binding: &str) -> Vec<String> {
        let config = format!("{}/{worker}.toml", env("REVOPS_CONFIG_DIR"));
        let keys = wrangler(&["kv", "key", "list", "--binding", binding, "-c", &config]);
        keys.as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap().to_string())
            .collect()
    }

    /// Every stored KV value of every namespace, as text.
    pub fn kv_values() -> Vec<String> {
        let root = std::path::Path::new(&env("REVOPS_STATE_DIR")).join("v3/kv");
        let mut out = Vec::new();
        for ns in std::fs::read_dir(root).unwrap().flatten() {
            let blobs = ns.path().join("blobs");
            if let Ok(files) = std::fs::read_dir(blobs) {
                for f in files.flatten() {
                    out.push(
                        String::from_utf8_lossy(&std::fs::read(f.path()).unwrap()).into_owned(),
                    );
                }
            }
        }
        out
    }
}

/// The runtime's structured log lines (`REVOPS_RUNTIME_LOG`, set by scripts/test.sh).
pub mod runtime_log {
    use serde_json::Value;

    /// Every `http.request` line logged for `request_id`, in every worker, once the gateway's
    /// own line (always the last one written) has appeared; waits up to five seconds for it.
    pub fn request_lines(request_id: &str) -> Vec<Value> {
        event_lines(request_id, "http.request", |lines| {
            lines.iter().any(|l| l["worker"] == "gateway")
        })
    }

    /// The request's `event` lines, once `complete` says they are all there (waits up to 5 s:
    /// the runtime writes its log asynchronously, and work after the response later still).
    pub fn event_lines(
        request_id: &str,
        event: &str,
        complete: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let path = std::env::var("REVOPS_RUNTIME_LOG")
            .unwrap_or_else(|_| panic!("REVOPS_RUNTIME_LOG is not set: run through `make test`"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<Value> = text
                .lines()
                .filter(|l| l.contains(request_id))
                .filter_map(|l| l.find('{').and_then(|i| serde_json::from_str(&l[i..]).ok()))
                .filter(|v: &Value| v["event"] == event && v["request_id"] == request_id)
                .collect();
            if complete(&lines) {
                return lines;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no complete {event} lines for {request_id} in {path}: {lines:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}
