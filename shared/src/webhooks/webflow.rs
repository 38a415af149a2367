//! Webflow: `x-webflow-signature` is hex HMAC-SHA256, keyed with the webhook's secret, of
//! `{x-webflow-timestamp}:{body}`; the timestamp is in milliseconds (five minutes' tolerance).

use super::{
    check_window, decode_hex, hmac_matches, signature_digest, Inbound, Verified, VerifyError,
};

pub fn verify(
    secrets: &[&str],
    msg: &Inbound,
    now_ms: i64,
    tolerance_ms: i64,
) -> Result<Verified, VerifyError> {
    let sig = msg
        .header("x-webflow-signature")
        .ok_or(VerifyError::MissingHeader("x-webflow-signature"))?;
    let ts = msg
        .header("x-webflow-timestamp")
        .ok_or(VerifyError::MissingHeader("x-webflow-timestamp"))?;
    let ts_ms: i64 = ts
        .trim()
        .parse()
        .map_err(|_| VerifyError::MalformedHeader("x-webflow-timestamp"))?;
    let mac = decode_hex(sig).ok_or(VerifyError::MalformedHeader("x-webflow-signature"))?;
    if !secrets
        .iter()
        .any(|s| hmac_matches(s.as_bytes(), &[ts.trim().as_bytes(), b":", msg.body], &mac))
    {
        return Err(VerifyError::BadSignature);
    }
    check_window(ts_ms, now_ms, tolerance_ms)?;
    let submission_id = serde_json::from_slice::<serde_json::Value>(msg.body)
        .ok()
        .and_then(|v| {
            v["payload"]["id"]
                .as_str()
                .or(v["_id"].as_str())
                .map(str::to_string)
        });
    Ok(Verified {
        message_id: submission_id.unwrap_or_else(|| signature_digest(sig)),
        timestamp_ms: Some(ts_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Webflow publishes no complete vector; computed from the documented scheme (Python, openssl).
    const SECRET: &str = "webflow_client_secret_example";
    const TS: &str = "1663849649733";
    const BODY: &str = r#"{"triggerType":"form_submission","payload":{"name":"Contact Us","siteId":"65427cf400e02b306eaa049c","data":{"First Name":"Zaphod","Last Name":"Beeblebrox","email":"zaphod@heartofgold.ai","Phone Number":15550000000},"submittedAt":"2022-09-14T12:35:16.117Z","id":"6321ca84df3949bfc6752327","formId":"65429eadebe8a9f3a30f62d0"}}"#;
    const SIG: &str = "dcc1a2960cbafb29289d1f878dad3d9aa608bc6a4aee281328f9492349d7f173";

    fn check(body: &str, sig: &str, now: i64) -> Result<Verified, VerifyError> {
        let h = vec![
            ("x-webflow-signature".to_string(), sig.to_string()),
            ("x-webflow-timestamp".to_string(), TS.to_string()),
        ];
        verify(
            &[SECRET],
            &Inbound {
                method: "POST",
                url: "",
                headers: &h,
                body: body.as_bytes(),
            },
            now,
            300_000,
        )
    }

    #[test]
    fn verifies_and_uses_the_submission_id() {
        let v = check(BODY, SIG, 1663849649733).unwrap();
        assert_eq!(v.message_id, "6321ca84df3949bfc6752327");
    }

    #[test]
    fn refuses_tampering_staleness_and_junk() {
        assert_eq!(
            check(&BODY.replace("Zaphod", "Arthur"), SIG, 1663849649733),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(BODY, SIG, 1663849649733 + 10 * 60_000),
            Err(VerifyError::Stale { age_seconds: 600 })
        );
        assert_eq!(
            check(BODY, "xyz", 1663849649733),
            Err(VerifyError::MalformedHeader("x-webflow-signature"))
        );
    }
}
