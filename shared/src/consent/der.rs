//! Just enough DER and PEM to hand keys and signatures to WebCrypto: the SubjectPublicKeyInfo
//! inside an X.509 certificate (SNS signing certificates), and ECDSA signatures converted from DER
//! to the fixed-size `r || s` form WebCrypto verifies (SendGrid). The signature arithmetic itself
//! runs in the Workers runtime's WebCrypto, not in our WASM.

use base64::Engine;

/// One DER element: its tag, its content, and its whole encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    pub raw: &'a [u8],
}

/// Reads one element; returns it and what follows.
pub fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *input.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    if end > input.len() {
        return None;
    }
    Some((
        Tlv {
            tag,
            value: &input[header..end],
            raw: &input[..end],
        },
        &input[end..],
    ))
}

/// The elements inside a constructed element's content.
pub fn children(mut content: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (tlv, rest) = read(content)?;
        out.push(tlv);
        content = rest;
    }
    Some(out)
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;

/// The DER of the certificate's SubjectPublicKeyInfo.
pub fn spki_from_certificate(cert: &[u8]) -> Option<Vec<u8>> {
    let (cert, _) = read(cert).filter(|(t, _)| t.tag == SEQUENCE)?;
    let (tbs, _) = read(cert.value).filter(|(t, _)| t.tag == SEQUENCE)?;
    let fields = children(tbs.value)?;
    // [0] version is optional; then serial, signature, issuer, validity, subject, spki.
    let skip = usize::from(fields.first()?.tag == 0xA0);
    let spki = fields.get(skip + 5)?;
    (spki.tag == SEQUENCE).then(|| spki.raw.to_vec())
}

/// The DER inside the first PEM block of `pem`.
pub fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let start = pem.find("-----BEGIN ")?;
    let body_start = pem[start..].find('\n')? + start + 1;
    let end = pem[body_start..].find("-----END ")? + body_start;
    let b64: String = pem[body_start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// An ECDSA signature in DER (`SEQUENCE { r INTEGER, s INTEGER }`) as `r || s`, each `size` bytes.
pub fn ecdsa_der_to_raw(sig: &[u8], size: usize) -> Option<Vec<u8>> {
    let (seq, rest) = read(sig).filter(|(t, _)| t.tag == SEQUENCE)?;
    if !rest.is_empty() {
        return None;
    }
    let parts = children(seq.value)?;
    let [r, s] = parts.as_slice() else {
        return None;
    };
    let mut out = Vec::with_capacity(2 * size);
    for int in [r, s] {
        if int.tag != INTEGER {
            return None;
        }
        let digits = match int.value {
            [0, rest @ ..] => rest,
            v => v,
        };
        if digits.len() > size {
            return None;
        }
        out.extend(std::iter::repeat_n(0u8, size - digits.len()));
        out.extend_from_slice(digits);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let (t, rest) = read(&[0x04, 0x02, 0xAA, 0xBB, 0xCC]).unwrap();
        assert_eq!(
            (t.tag, t.value, rest),
            (0x04, &[0xAA, 0xBB][..], &[0xCC][..])
        );
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(vec![7u8; 128]);
        assert_eq!(read(&long).unwrap().0.value.len(), 128);
        assert_eq!(read(&[0x04, 0x05, 0x01]), None, "truncated");
        assert_eq!(read(&[0x04, 0x80]), None, "indefinite lengths are not DER");
    }

    #[test]
    fn ecdsa_signatures_become_fixed_width() {
        // SEQUENCE { INTEGER 0x00 0x80 .. (33 bytes with sign padding), INTEGER 0x01 }
        let mut r = vec![0x00, 0x80];
        r.extend(vec![0x11; 31]);
        let mut der = vec![0x30, (2 + r.len() + 3) as u8, 0x02, r.len() as u8];
        der.extend(&r);
        der.extend([0x02, 0x01, 0x01]);
        let raw = ecdsa_der_to_raw(&der, 32).unwrap();
        assert_eq!(raw.len(), 64);
        assert_eq!(raw[0], 0x80);
        assert_eq!(raw[63], 0x01);
        assert!(raw[32..63].iter().all(|b| *b == 0));
        assert_eq!(ecdsa_der_to_raw(&[0x30, 0x00], 32), None);
    }

    #[test]
    fn pem_blocks_decode() {
        let pem = "junk\n-----BEGIN CERTIFICATE-----\nAAEC\nAw==\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_to_der(pem), Some(vec![0, 1, 2, 3]));
        assert_eq!(pem_to_der("no pem here"), None);
    }
}
