//! Countries to ISO 3166-1 alpha-2 ("United States", "USA", "U.S." → `US`) and, for the US,
//! Canada and Australia, states and provinces to their ISO 3166-2 codes ("California" → `CA`).

use super::countries::{Country, COUNTRIES, SUBDIVISIONS};

/// Folds text for lookups: lower-case, accents removed (Latin scripts), punctuation to single
/// spaces. "Côte d'Ivoire" → "cote d ivoire", "U.S.A." → "u s a".
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().map(crate::text::lower) {
        let base = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
            'æ' => "ae",
            'ç' | 'ć' | 'č' => "c",
            'ď' | 'đ' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
            'ğ' => "g",
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
            'ł' | 'ľ' => "l",
            'ñ' | 'ń' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
            'œ' => "oe",
            'ř' => "r",
            'ś' | 'š' | 'ş' | 'ș' => "s",
            'ß' => "ss",
            'ť' | 'ţ' | 'ț' => "t",
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            'þ' => "th",
            c if crate::text::is_letter_or_digit(c) => {
                out.push(c);
                continue;
            }
            _ => " ",
        };
        out.push_str(base);
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The country a person typed, by ISO code (alpha-2 or alpha-3), name or common alias.
pub fn parse_country(raw: &str) -> Option<&'static Country> {
    let folded = fold(raw);
    if folded.is_empty() {
        return None;
    }
    let folded = folded.strip_prefix("the ").unwrap_or(&folded);
    let compact: String = folded.chars().filter(|c| *c != ' ').collect();
    if compact.len() == 2 || compact.len() == 3 {
        let upper = compact.to_ascii_uppercase();
        if let Some(c) = COUNTRIES
            .iter()
            .find(|c| c.alpha2 == upper || c.alpha3 == upper)
        {
            return Some(c);
        }
    }
    COUNTRIES.iter().find(|c| {
        c.aliases
            .split('|')
            .any(|a| a == folded || a.replace(' ', "") == compact)
    })
}

pub fn country_by_code(alpha2: &str) -> Option<&'static Country> {
    COUNTRIES.iter().find(|c| c.alpha2 == alpha2)
}

/// A state or province of `country` by code or name, as its ISO 3166-2 code without the country
/// prefix (`("US", "calif.")` is not guessed; `("US", "California")` and `("US", "ca")` → `CA`).
pub fn parse_region(country: &str, raw: &str) -> Option<&'static str> {
    let folded = fold(raw);
    if folded.is_empty() {
        return None;
    }
    let upper = folded.replace(' ', "").to_ascii_uppercase();
    let upper = upper
        .strip_prefix(country)
        .filter(|rest| !rest.is_empty() && raw.contains('-'))
        .unwrap_or(&upper)
        .to_string();
    SUBDIVISIONS
        .iter()
        .filter(|(c, ..)| *c == country)
        .find(|(_, code, _, name)| *code == upper || *name == folded)
        .map(|(_, code, ..)| *code)
}

/// Validates (and upper-cases) a configured default country: an ISO 3166-1 alpha-2 code.
pub fn check_default_country(c: &mut Option<String>) -> Result<(), crate::problem::FieldError> {
    if let Some(code) = c.as_mut() {
        *code = code.trim().to_ascii_uppercase();
        if country_by_code(code).is_none() {
            return Err(crate::problem::FieldError::new(
                "default_country",
                "give an ISO 3166-1 alpha-2 country code, like GB",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(raw: &str) -> Option<&'static str> {
        parse_country(raw).map(|c| c.alpha2)
    }

    #[test]
    fn folds_accents_and_punctuation() {
        assert_eq!(fold("Côte d'Ivoire"), "cote d ivoire");
        assert_eq!(fold(" U.S.A. "), "u s a");
        assert_eq!(fold("Österreich"), "osterreich");
        assert_eq!(fold("Straße"), "strasse");
    }

    #[test]
    fn recognises_codes_names_and_aliases() {
        for (raw, want) in [
            ("United States", "US"),
            ("USA", "US"),
            ("U.S.", "US"),
            ("u.s.a.", "US"),
            ("us", "US"),
            ("United States of America", "US"),
            ("UK", "GB"),
            ("Great Britain", "GB"),
            ("England", "GB"),
            ("Deutschland", "DE"),
            ("DEU", "DE"),
            ("de", "DE"),
            ("The Netherlands", "NL"),
            ("Holland", "NL"),
            ("España", "ES"),
            ("Côte d'Ivoire", "CI"),
            ("Ivory Coast", "CI"),
            ("South Korea", "KR"),
            ("Korea, Republic of", "KR"),
            ("Türkiye", "TR"),
            ("UAE", "AE"),
            ("Viet Nam", "VN"),
            ("Czechia", "CZ"),
            ("  france ", "FR"),
            ("Bolivia", "BO"),
        ] {
            assert_eq!(code(raw), Some(want), "{raw:?}");
        }
    }

    #[test]
    fn unknown_countries_are_none() {
        for raw in ["", "Atlantis", "Earth", "XX", "12"] {
            assert_eq!(code(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn every_country_is_reachable_by_its_name_and_codes() {
        for c in COUNTRIES {
            assert_eq!(code(c.name).map(|_| ()), Some(()), "{}", c.name);
            assert_eq!(code(c.alpha2), Some(c.alpha2));
            assert_eq!(code(c.alpha3), Some(c.alpha2));
        }
    }

    #[test]
    fn regions_by_code_or_name() {
        assert_eq!(parse_region("US", "California"), Some("CA"));
        assert_eq!(parse_region("US", "ca"), Some("CA"));
        assert_eq!(parse_region("US", "US-NY"), Some("NY"));
        assert_eq!(parse_region("US", "new york"), Some("NY"));
        assert_eq!(parse_region("CA", "Québec"), Some("QC"));
        assert_eq!(parse_region("AU", "New South Wales"), Some("NSW"));
        assert_eq!(parse_region("US", "Bavaria"), None);
        assert_eq!(parse_region("DE", "Bayern"), None);
    }
}
