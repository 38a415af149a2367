//! Phone numbers: kept as given, plus E.164 where it can be derived.
//!
//! A number written internationally (`+44 20 7946 0958`, `0044 20 …`) converts directly. A
//! national number (`(415) 555-0100`, `020 7946 0958`) converts when the lead's country is known:
//! the country's trunk prefix (from libphonenumber's metadata: "0" in most of Europe, "1" in
//! NANP, "8" in Russia, none in Italy) is dropped and the calling code prepended. The result must
//! have a national length the country allows and at most 15 digits; otherwise there is no E.164
//! and the lead carries a data-quality flag.

use super::country::country_by_code;

/// Splits off an extension ("x123", "ext. 123", "#123").
fn strip_extension(raw: &str) -> &str {
    let lower = raw.to_ascii_lowercase();
    for marker in ["ext.", "ext", "x", "#"] {
        if let Some(pos) = lower.find(marker) {
            // Only when the extension marker follows some digits.
            if lower[..pos].chars().filter(char::is_ascii_digit).count() >= 6 {
                return &raw[..pos];
            }
        }
    }
    raw
}

/// The number in E.164 (`+14155550100`), or `None` when it cannot be derived with confidence.
pub fn to_e164(raw: &str, country: Option<&str>) -> Option<String> {
    let number = strip_extension(raw.trim());
    if number.chars().any(crate::text::is_letter) {
        return None;
    }
    let plus = number.trim_start().starts_with('+');
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    let international = if plus {
        Some(digits.clone())
    } else {
        digits.strip_prefix("00").map(str::to_string)
    };
    let e164_digits = match international {
        Some(d) => d,
        None => {
            let country = country_by_code(country?)?;
            let mut national = digits.as_str();
            if !country.national_prefix.is_empty() {
                // NANP numbers are often written with the leading 1; others with their trunk 0.
                if let Some(rest) = national.strip_prefix(country.national_prefix) {
                    if rest.len() >= country.national_min_len as usize {
                        national = rest;
                    }
                }
            }
            let len = national.len();
            if len < country.national_min_len as usize || len > country.national_max_len as usize {
                return None;
            }
            format!("{}{}", country.calling_code, national)
        }
    };
    let ok = (8..=15).contains(&e164_digits.len()) && !e164_digits.starts_with('0');
    ok.then(|| format!("+{e164_digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn international_forms() {
        assert_eq!(
            to_e164("+44 20 7946 0958", None).as_deref(),
            Some("+442079460958")
        );
        assert_eq!(
            to_e164("0044 20 7946 0958", Some("US")).as_deref(),
            Some("+442079460958")
        );
        assert_eq!(
            to_e164("+1 (415) 555-0100 ext. 12", None).as_deref(),
            Some("+14155550100")
        );
        assert_eq!(
            to_e164("+49-30-1234567", None).as_deref(),
            Some("+49301234567")
        );
    }

    #[test]
    fn national_forms_with_a_known_country() {
        assert_eq!(
            to_e164("(415) 555-0100", Some("US")).as_deref(),
            Some("+14155550100")
        );
        assert_eq!(
            to_e164("1-415-555-0100", Some("US")).as_deref(),
            Some("+14155550100")
        );
        assert_eq!(
            to_e164("020 7946 0958", Some("GB")).as_deref(),
            Some("+442079460958")
        );
        assert_eq!(
            to_e164("030 1234567", Some("DE")).as_deref(),
            Some("+49301234567")
        );
        // Italy keeps the leading zero of landlines.
        assert_eq!(
            to_e164("06 1234 5678", Some("IT")).as_deref(),
            Some("+390612345678")
        );
        // Russia dials 8 as its trunk prefix.
        assert_eq!(
            to_e164("8 (495) 123-45-67", Some("RU")).as_deref(),
            Some("+74951234567")
        );
        assert_eq!(
            to_e164("415.555.0100 x99", Some("US")).as_deref(),
            Some("+14155550100")
        );
    }

    #[test]
    fn refuses_to_guess() {
        assert_eq!(to_e164("555-0100", Some("US")), None, "too short for NANP");
        assert_eq!(
            to_e164("(415) 555-0100", None),
            None,
            "national without a country"
        );
        assert_eq!(to_e164("call me maybe", Some("US")), None);
        assert_eq!(to_e164("+1234", None), None);
        assert_eq!(to_e164("+1234567890123456", None), None, "over 15 digits");
        assert_eq!(to_e164("", Some("US")), None);
    }
}
