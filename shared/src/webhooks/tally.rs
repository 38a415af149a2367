//! Tally: `Tally-Signature: <base64 HMAC-SHA256 of the raw body>`, keyed with the signing
//! secret's UTF-8 bytes (https://tally.so/help/webhooks, "Add a signing secret"). The scheme signs
//! no timestamp; replays are caught by the event's `eventId`.

use base64::Engine;

use super::{b64, hmac_matches, signature_digest, Inbound, Verified, VerifyError};

pub fn verify(secrets: &[&str], msg: &Inbound) -> Result<Verified, VerifyError> {
    let header = msg
        .header("tally-signature")
        .ok_or(VerifyError::MissingHeader("Tally-Signature"))?;
    let mac = b64()
        .decode(header.trim())
        .map_err(|_| VerifyError::MalformedHeader("Tally-Signature"))?;
    if !secrets
        .iter()
        .any(|s| hmac_matches(s.as_bytes(), &[msg.body], &mac))
    {
        return Err(VerifyError::BadSignature);
    }
    let event_id = serde_json::from_slice::<serde_json::Value>(msg.body)
        .ok()
        .and_then(|v| v["eventId"].as_str().map(str::to_string));
    Ok(Verified {
        message_id: event_id.unwrap_or_else(|| signature_digest(header)),
        timestamp_ms: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tally's documented example event (the fixture names its source on its first line).
    fn example() -> &'static str {
        include_str!("../../fixtures/tally/example-event.json.txt")
            .split_once('\n')
            .unwrap()
            .1
    }

    fn check(secret: &str, body: &str, sig: &str) -> Result<Verified, VerifyError> {
        let h = vec![("tally-signature".to_string(), sig.to_string())];
        verify(
            &[secret],
            &Inbound {
                method: "POST",
                url: "",
                headers: &h,
                body: body.as_bytes(),
            },
        )
    }

    #[test]
    fn verifies_the_documented_event_and_names_it_by_event_id() {
        // Tally documents the scheme (base64 HMAC-SHA256 of the payload) but publishes no vector:
        // the signature is computed here as its Express sample does.
        let sig = super::super::hmac_sha256_base64(b"YOUR_SIGNING_SECRET", &[example().as_bytes()]);
        let v = check("YOUR_SIGNING_SECRET", example(), &sig).unwrap();
        assert_eq!(v.message_id, "a4cb511e-d513-4fa5-baee-b815d718dfd1");
        assert_eq!(
            check("another", example(), &sig),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(
                "YOUR_SIGNING_SECRET",
                &example().replace("Alice", "Alicia"),
                &sig
            ),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check("YOUR_SIGNING_SECRET", example(), "sha256=***"),
            Err(VerifyError::MalformedHeader("Tally-Signature"))
        );
    }
}
