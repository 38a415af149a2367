//! Public-key signature verification with the runtime's WebCrypto (`crypto.subtle`): the domain
//! prepares key, signature and message ([`revops::consent::providers::SignatureCheck`]); this
//! asks the runtime to verify, so no RSA or elliptic-curve arithmetic is compiled into WASM.

use revops::consent::providers::SignatureCheck;
use worker::js_sys::{self, Array, Function, Object, Promise, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;

use crate::error::{Error, Result};

fn object(pairs: &[(&str, JsValue)]) -> Result<JsValue> {
    let obj = Object::new();
    for (k, v) in pairs {
        Reflect::set(&obj, &JsValue::from_str(k), v).map_err(js)?;
    }
    Ok(obj.into())
}

fn js(e: JsValue) -> Error {
    Error::internal(format!("webcrypto: {e:?}"))
}

async fn call(subtle: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue> {
    let f: Function = Reflect::get(subtle, &JsValue::from_str(method))
        .map_err(js)?
        .dyn_into()
        .map_err(js)?;
    let promise: Promise = f
        .apply(subtle, &args.iter().collect::<Array>())
        .map_err(js)?
        .dyn_into()
        .map_err(js)?;
    JsFuture::from(promise).await.map_err(js)
}

/// Whether the signature verifies. A key WebCrypto cannot import counts as not verifying.
pub async fn verify(check: &SignatureCheck) -> Result<bool> {
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).map_err(js)?;
    let subtle = Reflect::get(&crypto, &JsValue::from_str("subtle")).map_err(js)?;
    let (import_alg, verify_alg, spki, signature, message) = match check {
        SignatureCheck::EcdsaP256Sha256 {
            spki,
            signature,
            message,
        } => (
            object(&[("name", "ECDSA".into()), ("namedCurve", "P-256".into())])?,
            object(&[("name", "ECDSA".into()), ("hash", "SHA-256".into())])?,
            spki,
            signature,
            message,
        ),
        SignatureCheck::RsaPkcs1 {
            sha1,
            spki,
            signature,
            message,
        } => (
            object(&[
                ("name", "RSASSA-PKCS1-v1_5".into()),
                ("hash", if *sha1 { "SHA-1" } else { "SHA-256" }.into()),
            ])?,
            object(&[("name", "RSASSA-PKCS1-v1_5".into())])?,
            spki,
            signature,
            message,
        ),
    };
    let usages: Array = [JsValue::from_str("verify")].iter().collect();
    let key = match call(
        &subtle,
        "importKey",
        &[
            "spki".into(),
            Uint8Array::from(spki.as_slice()).into(),
            import_alg,
            JsValue::FALSE,
            usages.into(),
        ],
    )
    .await
    {
        Ok(key) => key,
        Err(_) => return Ok(false),
    };
    let ok = call(
        &subtle,
        "verify",
        &[
            verify_alg,
            key,
            Uint8Array::from(signature.as_slice()).into(),
            Uint8Array::from(message.as_slice()).into(),
        ],
    )
    .await?;
    Ok(ok.as_bool().unwrap_or(false))
}
