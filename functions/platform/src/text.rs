//! Text in other encodings, decoded by the runtime: `TextDecoder` implements the WHATWG Encoding
//! standard (windows-1252, ISO-8859-x, Shift_JIS, GB18030, …), so no encoding tables are compiled
//! into the workers. The domain crate decides what to do with bytes that do not decode.

use revops::intake::body::{Decoded, Decoder};
use worker::js_sys::{self, Array, Function, Object, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};

/// The runtime's `TextDecoder`.
pub struct RuntimeDecoder;

fn decoder(label: &str, fatal: bool) -> Option<JsValue> {
    let ctor: Function = Reflect::get(&js_sys::global(), &"TextDecoder".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let options = Object::new();
    Reflect::set(&options, &"fatal".into(), &JsValue::from_bool(fatal)).ok()?;
    // An unknown label throws a RangeError.
    Reflect::construct(&ctor, &Array::of2(&label.into(), &options)).ok()
}

fn decode(decoder: &JsValue, bytes: &[u8]) -> Option<String> {
    let f: Function = Reflect::get(decoder, &"decode".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let input = Uint8Array::from(bytes);
    // A fatal decoder throws a TypeError on bytes that are not valid in the encoding.
    f.call1(decoder, &input).ok()?.as_string()
}

impl Decoder for RuntimeDecoder {
    fn decode(&self, label: &str, bytes: &[u8]) -> Decoded {
        let Some(strict) = decoder(label, true) else {
            return Decoded::UnknownEncoding;
        };
        if let Some(text) = decode(&strict, bytes) {
            return Decoded::Text(text);
        }
        let lossy = decoder(label, false)
            .and_then(|d| decode(&d, bytes))
            .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned());
        Decoded::Invalid(lossy)
    }
}
