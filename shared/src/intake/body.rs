//! Form bodies as browsers send them: `application/x-www-form-urlencoded` and
//! `multipart/form-data` (RFC 7578), read as bytes and turned into text in the encoding the
//! form declared (`_charset_`, or a `charset` parameter; UTF-8 otherwise).
//!
//! The bytes-to-text step is the runtime's `TextDecoder` in the workers (the WHATWG Encoding
//! standard: windows-1252, ISO-8859-x, Shift_JIS, …), passed in as a [`Decoder`], so no encoding
//! tables are compiled in. Bytes that do not decode are never stored silently as U+FFFD: the
//! fields are named in a data-quality flag (the raw body is kept with the submission).

use percent_encoding::percent_decode;

use super::normalize::Flag;

/// A form field as bytes, before decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawField {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
    /// A file part's file name (uploads are not stored: the field's value is the file name).
    pub filename: Option<Vec<u8>>,
}

/// `a=1&b=%C3%A9+x`: pairs of percent-decoded bytes, as the WHATWG URL standard's
/// urlencoded parser reads them: `+` is a space, and only `%` followed by two hex digits is an
/// escape; anything else is kept as it stands (`%+5` is `%`, a space, `5` — never byte 0x05).
pub fn parse_urlencoded_bytes(body: &[u8]) -> Vec<RawField> {
    let decode = |s: &[u8]| -> Vec<u8> {
        let plus: Vec<u8> = s
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_decode(&plus).collect()
    };
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            RawField {
                name: decode(k),
                value: decode(v),
                filename: None,
            }
        })
        .collect()
}

/// The parameters of a header value (`form-data; name="a;b"; filename="x.pdf"`), with quoted
/// strings unquoted (RFC 9110 §5.6.4: `\` escapes the next character). Names are lower-cased.
pub fn header_params(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = match value.find(';') {
        Some(i) => &value[i + 1..],
        None => return out,
    };
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            return out;
        }
        let Some(eq) = rest.find('=') else {
            return out;
        };
        let name = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let mut val = String::new();
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, next)) = chars.next() {
                            val.push(next);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => val.push(c),
                }
            }
            rest = &quoted[end.min(quoted.len())..];
            rest = rest.find(';').map_or("", |i| &rest[i..]);
        } else {
            let end = rest.find(';').unwrap_or(rest.len());
            val = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        out.push((name, val));
    }
}

/// A header parameter's value.
pub fn header_param(value: &str, name: &str) -> Option<String> {
    header_params(value)
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() || from > haystack.len() - needle.len() {
        return None;
    }
    (from..=haystack.len() - needle.len()).find(|&i| &haystack[i..i + needle.len()] == needle)
}

/// The end of the line starting at `pos` (CRLF or a bare LF) and where the next line begins.
fn line_end(body: &[u8], pos: usize) -> Option<(usize, usize)> {
    let lf = body[pos..].iter().position(|&b| b == b'\n')? + pos;
    let end = if lf > pos && body[lf - 1] == b'\r' {
        lf - 1
    } else {
        lf
    };
    Some((end, lf + 1))
}

/// Parses a `multipart/form-data` body (RFC 7578) into fields. A preamble before the first
/// boundary is ignored, and lines may end in CRLF or (as some senders write) a bare LF.
pub fn parse_multipart(body: &[u8], content_type: &str) -> Result<Vec<RawField>, String> {
    let boundary =
        header_param(content_type, "boundary").ok_or("the multipart boundary is missing")?;
    if boundary.is_empty() || boundary.len() > 70 {
        return Err("the multipart boundary is invalid".into());
    }
    let delimiter = format!("--{boundary}").into_bytes();
    // The first delimiter opens a line (the body's start, or after a preamble's line break).
    let mut pos = 0;
    loop {
        let at = find(body, &delimiter, pos).ok_or("the body does not contain the boundary")?;
        if at == 0 || body[at - 1] == b'\n' {
            pos = at + delimiter.len();
            break;
        }
        pos = at + 1;
    }
    let mut fields = Vec::new();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            return Ok(fields);
        }
        let (_, next) = line_end(body, pos).ok_or("a boundary is not followed by a line break")?;
        pos = next;
        // Part headers, up to an empty line.
        let mut disposition: Option<String> = None;
        loop {
            let (end, next) = line_end(body, pos).ok_or("a part has no end of headers")?;
            let line =
                std::str::from_utf8(&body[pos..end]).map_err(|_| "a part header is not UTF-8")?;
            pos = next;
            if line.is_empty() {
                break;
            }
            if line.len() > 20 && line[..20].eq_ignore_ascii_case("content-disposition:") {
                disposition = Some(line[20..].trim().to_string());
            }
        }
        let disposition = disposition.ok_or("a part has no Content-Disposition")?;
        // The content runs to the line break before the next delimiter.
        let mut search = pos;
        let (content_end, after) = loop {
            let at =
                find(body, &delimiter, search).ok_or("a part is not terminated by the boundary")?;
            if at >= 1 && body[at - 1] == b'\n' {
                let end = if at >= 2 && body[at - 2] == b'\r' {
                    at - 2
                } else {
                    at - 1
                };
                break (end.max(pos), at + delimiter.len());
            }
            search = at + 1;
        };
        let name = header_param(&disposition, "name").ok_or("a part has no name")?;
        let filename = header_param(&disposition, "filename");
        fields.push(RawField {
            name: name.into_bytes(),
            value: body[pos..content_end].to_vec(),
            filename: filename.map(String::into_bytes),
        });
        pos = after;
    }
}

/// The encoding a form's text is in: its `_charset_` field (HTML's way of saying what the page
/// used), else the body's `charset` parameter, else UTF-8. Labels are lower-cased.
pub fn declared_charset(content_type: &str, fields: &[RawField]) -> String {
    fields
        .iter()
        .find(|f| f.name == b"_charset_")
        .and_then(|f| std::str::from_utf8(&f.value).ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or_else(|| header_param(content_type, "charset"))
        .unwrap_or_else(|| "utf-8".into())
        .to_ascii_lowercase()
}

/// What the runtime's text decoder answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Text(String),
    /// The bytes are not valid in the encoding; the lossy text (with U+FFFD) is attached.
    Invalid(String),
    /// The label names no encoding the decoder knows.
    UnknownEncoding,
}

/// Bytes to text in a named encoding (the workers use the runtime's `TextDecoder`).
pub trait Decoder {
    fn decode(&self, label: &str, bytes: &[u8]) -> Decoded;
}

/// UTF-8 needs no runtime help (forms on UTF-16 pages are submitted in UTF-8 too, as HTML says);
/// any other label goes to the decoder, which also says whether it knows the label at all.
pub fn decode_with(decoder: &dyn Decoder, label: &str, bytes: &[u8]) -> Decoded {
    if matches!(
        label,
        "utf-8" | "utf8" | "unicode-1-1-utf-8" | "utf-16" | "utf-16le" | "utf-16be"
    ) {
        return match std::str::from_utf8(bytes) {
            Ok(s) => Decoded::Text(s.to_string()),
            Err(_) => Decoded::Invalid(String::from_utf8_lossy(bytes).into_owned()),
        };
    }
    decoder.decode(label, bytes)
}

/// The body as stored with the submission: its text, or (for bytes that are not UTF-8) base64
/// behind a `base64:` marker, so nothing received is lost.
pub fn stored_body(bytes: &[u8]) -> String {
    use base64::Engine;
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => format!(
            "base64:{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ),
    }
}

/// A form's fields as text, decoded in `charset`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fields {
    pub fields: Vec<(String, String)>,
    /// The data-quality flag naming the fields whose bytes did not decode.
    pub flag: Option<Flag>,
}

/// Decodes every field name and value; `Err` names an encoding the decoder does not know.
pub fn decode_fields(
    raw: &[RawField],
    charset: &str,
    decoder: &dyn Decoder,
) -> Result<Fields, String> {
    let mut fields = Vec::with_capacity(raw.len());
    let mut broken: Vec<String> = Vec::new();
    let text = |bytes: &[u8], broken: &mut bool| -> Result<String, String> {
        match decode_with(decoder, charset, bytes) {
            Decoded::Text(t) => Ok(t),
            Decoded::Invalid(t) => {
                *broken = true;
                Ok(t)
            }
            Decoded::UnknownEncoding => Err(format!(
                "the form says its text is in `{charset}`, which is not an encoding we know"
            )),
        }
    };
    for f in raw {
        if f.name == b"_charset_" {
            continue;
        }
        let mut bad = false;
        let name = text(&f.name, &mut bad)?;
        let value = match &f.filename {
            Some(file) => text(file, &mut bad)?,
            None => text(&f.value, &mut bad)?,
        };
        if bad && !broken.contains(&name) {
            broken.push(name.clone());
        }
        fields.push((name, value));
    }
    let flag = (!broken.is_empty()).then(|| {
        Flag::new(
            "undecodable_text",
            format!(
                "{} held bytes that are not valid {charset}; they show as \u{FFFD} and the original body is kept",
                broken.join(", ")
            ),
        )
    });
    Ok(Fields { fields, flag })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ISO-8859-1 / windows-1252 for the tests (the workers ask the runtime's TextDecoder).
    struct Latin;
    impl Decoder for Latin {
        fn decode(&self, label: &str, bytes: &[u8]) -> Decoded {
            match label {
                "windows-1252" | "iso-8859-1" | "latin1" => {
                    if bytes.contains(&0x81) {
                        // Undefined in windows-1252.
                        return Decoded::Invalid(
                            bytes
                                .iter()
                                .map(|&b| if b == 0x81 { '\u{FFFD}' } else { b as char })
                                .collect(),
                        );
                    }
                    Decoded::Text(
                        bytes
                            .iter()
                            .map(|&b| match b {
                                0x80 => '€',
                                b => b as char,
                            })
                            .collect(),
                    )
                }
                _ => Decoded::UnknownEncoding,
            }
        }
    }

    fn names(raw: &[RawField]) -> Vec<String> {
        raw.iter()
            .map(|f| String::from_utf8_lossy(&f.name).into_owned())
            .collect()
    }

    #[test]
    fn percent_escapes_need_two_hex_digits() {
        let raw = parse_urlencoded_bytes(b"a=%41%+5&b=x+y&c=%zz&d=%4&e");
        let values: Vec<&[u8]> = raw.iter().map(|f| f.value.as_slice()).collect();
        assert_eq!(values, [&b"A% 5"[..], b"x y", b"%zz", b"%4", b""]);
    }

    #[test]
    fn windows_1252_and_latin1_posts_decode_and_bad_bytes_are_flagged() {
        // "Zoë" and "€5" as a windows-1252 page posts them.
        let raw = parse_urlencoded_bytes(b"_charset_=windows-1252&name=Zo%EB&price=%805");
        let charset = declared_charset("application/x-www-form-urlencoded", &raw);
        assert_eq!(charset, "windows-1252");
        let out = decode_fields(&raw, &charset, &Latin).unwrap();
        assert_eq!(
            out.fields,
            [
                ("name".to_string(), "Zoë".to_string()),
                ("price".to_string(), "€5".to_string())
            ]
        );
        assert!(out.flag.is_none());
        let raw = parse_urlencoded_bytes(b"name=Zo%EB");
        let charset = declared_charset(
            "application/x-www-form-urlencoded; charset=ISO-8859-1",
            &raw,
        );
        assert_eq!(
            decode_fields(&raw, &charset, &Latin).unwrap().fields[0].1,
            "Zoë"
        );
        // Not UTF-8 though none was declared: flagged, never silently replaced.
        let out = decode_fields(&raw, "utf-8", &Latin).unwrap();
        assert_eq!(out.fields[0].1, "Zo\u{FFFD}");
        let flag = out.flag.unwrap();
        assert_eq!(flag.code, "undecodable_text");
        assert!(flag.detail.contains("name"));
        let bad = parse_urlencoded_bytes(b"note=a%81b");
        assert!(decode_fields(&bad, "windows-1252", &Latin)
            .unwrap()
            .flag
            .is_some());
        assert!(decode_fields(&raw, "klingon", &Latin).is_err());
        let ascii = parse_urlencoded_bytes(b"email=jo%40acme.com");
        assert!(
            decode_fields(&ascii, "klingon", &Latin).is_err(),
            "an unknown label is refused even for ASCII"
        );
    }

    #[test]
    fn distinct_names_stay_distinct() {
        let raw = parse_urlencoded_bytes(b"a%22b=1&a'b=2&a%5Cb=3&a%0D%0Ab=4&tags%5B%5D=x&tags=y");
        assert_eq!(
            names(&raw),
            ["a\"b", "a'b", "a\\b", "a\r\nb", "tags[]", "tags"]
        );
    }

    #[test]
    fn header_parameters_unquote_and_keep_semicolons() {
        let p = header_params(r#"form-data; name="a;b"; filename="c \"d\".pdf"; x=plain"#);
        assert_eq!(
            p,
            [
                ("name".to_string(), "a;b".to_string()),
                ("filename".to_string(), "c \"d\".pdf".to_string()),
                ("x".to_string(), "plain".to_string()),
            ]
        );
        assert_eq!(
            header_param("multipart/form-data; boundary=\"abc\"", "boundary").as_deref(),
            Some("abc")
        );
        assert_eq!(header_param("text/plain", "charset"), None);
    }

    #[test]
    fn multipart_with_crlf_lf_a_preamble_and_quoted_names() {
        let crlf = b"--XyZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\njo@acme.com\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a;b\"\r\n\r\nsemi\r\n--XyZ\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"cv.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--XyZ--\r\n";
        let ct = "multipart/form-data; boundary=XyZ";
        let f = parse_multipart(crlf, ct).unwrap();
        assert_eq!(names(&f), ["email", "a;b", "cv"]);
        assert_eq!(f[0].value, b"jo@acme.com");
        assert_eq!(f[2].filename.as_deref(), Some(&b"cv.pdf"[..]));
        let lf = b"This is a preamble.\n--XyZ\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\n\nOne-Click\n--XyZ--\n";
        let f = parse_multipart(lf, ct).unwrap();
        assert_eq!(
            (f[0].name.as_slice(), f[0].value.as_slice()),
            (&b"List-Unsubscribe"[..], &b"One-Click"[..])
        );
        assert!(parse_multipart(b"--other\r\n", ct).is_err());
        assert!(parse_multipart(b"x", "multipart/form-data").is_err());
    }
}
