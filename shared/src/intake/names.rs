//! People's names, cased sensibly.
//!
//! Only names typed entirely in lower or upper case are re-cased: a name that already mixes cases
//! ("McKenzie", "DeShawn", "van Dyke") is the person's own spelling and is kept. Re-casing
//! capitalises each part between spaces, hyphens and apostrophes, writes `Mc` prefixes as
//! `McX`, and keeps nobiliary particles (van, von, de, da, …) lower-case unless they start the
//! name.

use crate::text;

const PARTICLES: &[&str] = &[
    "van", "von", "der", "den", "de", "del", "della", "di", "da", "dos", "das", "du", "la", "le",
    "ter", "ten", "bin", "al", "y", "e",
];

/// A full name split into first and last ("Jane van der Berg" → "Jane", "van der Berg").
pub fn split_full_name(full: &str) -> (Option<String>, Option<String>) {
    let full = full.split_whitespace().collect::<Vec<_>>().join(" ");
    if full.is_empty() {
        return (None, None);
    }
    // "Doe, Jane" is last-name-first.
    if let Some((last, first)) = full.split_once(',') {
        let (first, last) = (first.trim(), last.trim());
        return (non_empty(first), non_empty(last));
    }
    match full.split_once(' ') {
        Some((first, rest)) => (Some(first.to_string()), Some(rest.to_string())),
        None => (Some(full), None),
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Cleans whitespace and re-cases a name typed in a single case.
pub fn normalise_name(raw: &str) -> Option<String> {
    let collapsed = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.is_empty() {
        return None;
    }
    let has_lower = collapsed.chars().any(text::is_lower);
    let has_upper = collapsed.chars().any(text::is_upper);
    if has_lower && has_upper {
        return Some(collapsed);
    }
    let words: Vec<String> = collapsed
        .split(' ')
        .enumerate()
        .map(|(i, word)| {
            let lower = text::lowercase(word);
            if i > 0 && PARTICLES.contains(&lower.as_str()) {
                lower
            } else {
                recase_word(&lower)
            }
        })
        .collect();
    Some(words.join(" "))
}

/// Capitalises each segment of a lower-case word split at `-` and `'`.
fn recase_word(lower: &str) -> String {
    let mut out = String::with_capacity(lower.len());
    let mut start_of_segment = true;
    for c in lower.chars() {
        if start_of_segment && text::is_letter(c) {
            out.push(text::upper(c));
            start_of_segment = false;
        } else {
            out.push(c);
        }
        if c == '-' || c == '\'' || c == '’' {
            start_of_segment = true;
        }
    }
    // McDonald, McKenzie: "Mc" followed by a letter.
    if out.len() > 3 && out.starts_with("Mc") {
        let mut chars: Vec<char> = out.chars().collect();
        if text::is_letter(chars[2]) {
            chars[2] = text::upper(chars[2]);
            out = chars.into_iter().collect();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recases_single_case_names() {
        for (raw, want) in [
            ("JOHN", "John"),
            ("john smith", "John Smith"),
            ("  mary   ann ", "Mary Ann"),
            ("jean-luc", "Jean-Luc"),
            ("o'brien", "O'Brien"),
            ("MCDONALD", "McDonald"),
            ("van der berg", "Van der Berg"),
            ("ludwig van beethoven", "Ludwig van Beethoven"),
            ("ÉMILE ZOLA", "Émile Zola"),
            ("mc", "Mc"),
        ] {
            assert_eq!(normalise_name(raw).as_deref(), Some(want), "{raw:?}");
        }
    }

    #[test]
    fn keeps_mixed_case_as_the_person_wrote_it() {
        for name in ["McKenzie", "DeShawn", "van Dyke", "d'Artagnan", "MacLeod"] {
            assert_eq!(normalise_name(name).as_deref(), Some(name));
        }
        assert_eq!(normalise_name("   "), None);
    }

    #[test]
    fn splits_full_names() {
        assert_eq!(
            split_full_name("Jane Doe"),
            (Some("Jane".into()), Some("Doe".into()))
        );
        assert_eq!(
            split_full_name("Jane van der Berg"),
            (Some("Jane".into()), Some("van der Berg".into()))
        );
        assert_eq!(
            split_full_name("Doe, Jane"),
            (Some("Jane".into()), Some("Doe".into()))
        );
        assert_eq!(split_full_name("Cher"), (Some("Cher".into()), None));
        assert_eq!(split_full_name(" "), (None, None));
    }
}
