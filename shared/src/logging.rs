//! Structured log lines with personal data masked.
//!
//! Handlers log one JSON object per line. Every string that goes into a line passes through
//! [`redact`], which masks anything shaped like an email address (`j***@example.com`) and drops
//! values of fields whose names say they are secret. A log line can therefore never carry a full
//! email address or an API key, whoever writes the call site.

use serde_json::{Map, Value};

/// Masks an email address to its first character and domain: `jane@acme.com` → `j***@acme.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

fn is_email_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._%+-'".contains(c)
}

/// Masks every email-shaped substring of `text`.
pub fn redact(text: &str) -> String {
    if !text.contains('@') {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '@' {
            // Walk back over the local part already emitted.
            let mut start = out.len();
            for (idx, c) in out.char_indices().rev() {
                if is_email_char(c) {
                    start = idx;
                } else {
                    break;
                }
            }
            let local_len = out.len() - start;
            if local_len > 0 && i + 1 < chars.len() && is_email_char(chars[i + 1]) {
                let first = out[start..].chars().next().unwrap_or('*');
                out.truncate(start);
                out.push(first);
                out.push_str("***@");
                i += 1;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

const SECRET_FIELD_MARKERS: [&str; 6] = [
    "secret",
    "password",
    "token",
    "authorization",
    "api_key",
    "signature",
];

fn redact_value(key: &str, value: Value) -> Value {
    let lower = key.to_ascii_lowercase();
    if SECRET_FIELD_MARKERS.iter().any(|m| lower.contains(m)) {
        return Value::String("[redacted]".into());
    }
    match value {
        Value::String(s) => Value::String(redact(&s)),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| redact_value("", v)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = redact_value(&k, v);
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Builds one log line: `{"ts", "level", "worker", "request_id", "event", ...fields}`.
pub fn line(
    level: Level,
    ts_ms: i64,
    worker: &str,
    request_id: &str,
    event: &str,
    fields: Value,
) -> String {
    let mut obj = Map::new();
    obj.insert("ts".into(), Value::from(ts_ms));
    obj.insert("level".into(), Value::from(level.as_str()));
    obj.insert("worker".into(), Value::from(worker));
    obj.insert("request_id".into(), Value::from(request_id));
    obj.insert("event".into(), Value::from(event));
    if let Value::Object(map) = fields {
        for (k, v) in map {
            let v = redact_value(&k, v);
            obj.entry(k).or_insert(v);
        }
    }
    Value::Object(obj).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_emails() {
        assert_eq!(mask_email("jane.doe@acme.com"), "j***@acme.com");
        assert_eq!(mask_email("nonsense"), "***");
    }

    #[test]
    fn redacts_emails_inside_text() {
        assert_eq!(
            redact("lead jane.doe+x@acme.com merged with bob@b.io."),
            "lead j***@acme.com merged with b***@b.io."
        );
        assert_eq!(redact("no at sign"), "no at sign");
        assert_eq!(redact("trailing @"), "trailing @");
        assert_eq!(redact("@handle"), "@handle");
        assert_eq!(redact("ünïcode jane@x.de"), "ünïcode j***@x.de");
    }

    #[test]
    fn log_lines_never_carry_emails_or_secrets() {
        let l = line(
            Level::Info,
            1,
            "intake",
            "req_1",
            "lead.created",
            json!({"email": "jane@acme.com", "api_key": "rk_abc", "nested": {"to": ["x@y.com"]}, "event": "spoof"}),
        );
        assert!(!l.contains("jane@"));
        assert!(!l.contains("x@y.com"));
        assert!(!l.contains("rk_abc"));
        let v: Value = serde_json::from_str(&l).unwrap();
        assert_eq!(
            v["event"], "lead.created",
            "fields cannot overwrite the envelope"
        );
        assert_eq!(v["email"], "j***@acme.com");
    }
}
