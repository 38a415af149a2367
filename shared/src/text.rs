//! Letter case and letter classes for the scripts people's names and addresses are written in
//! here: ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic.
//!
//! The standard library's `to_lowercase`, `to_uppercase`, `is_alphabetic` and friends cover all of
//! Unicode through tables that cost the intake worker about 18 KB of gzipped WASM, against a budget
//! of 250 KB. These functions cover the scripts above exactly and leave every other character as
//! it is (scripts without case, like CJK, lose nothing); characters outside those blocks above
//! U+007F count as letters, which is what validation of names and internationalised addresses
//! needs.

/// The lower-case form of `c` (unchanged outside the covered blocks).
pub fn lower(c: char) -> char {
    let u = c as u32;
    let mapped = match u {
        0x41..=0x5A => u + 0x20,
        0xC0..=0xDE if u != 0xD7 => u + 0x20,
        0x130 => 0x69,
        0x100..=0x137 | 0x14A..=0x177 if u.is_multiple_of(2) => u + 1,
        0x139..=0x148 | 0x179..=0x17E if !u.is_multiple_of(2) => u + 1,
        0x178 => 0xFF,
        0x391..=0x3AB if u != 0x3A2 => u + 0x20,
        0x386 => 0x3AC,
        0x388..=0x38A => u + 0x25,
        0x38C => 0x3CC,
        0x38E | 0x38F => u + 0x3F,
        0x400..=0x40F => u + 0x50,
        0x410..=0x42F => u + 0x20,
        _ => u,
    };
    char::from_u32(mapped).unwrap_or(c)
}

/// The upper-case form of `c` (unchanged outside the covered blocks; `ß` stays `ß`).
pub fn upper(c: char) -> char {
    let u = c as u32;
    let mapped = match u {
        0x61..=0x7A => u - 0x20,
        0xE0..=0xFE if u != 0xF7 => u - 0x20,
        0xFF => 0x178,
        0x101..=0x138 | 0x14B..=0x178 if !u.is_multiple_of(2) && u != 0x131 && u != 0x138 => u - 1,
        0x13A..=0x149 | 0x17A..=0x17F if u.is_multiple_of(2) && u != 0x149 && u != 0x17F => u - 1,
        0x131 => 0x49,
        0x3B1..=0x3CB if u != 0x3C2 => u - 0x20,
        0x3C2 => 0x3A3,
        0x3AC => 0x386,
        0x3AD..=0x3AF => u - 0x25,
        0x3CC => 0x38C,
        0x3CD | 0x3CE => u - 0x3F,
        0x430..=0x44F => u - 0x20,
        0x450..=0x45F => u - 0x50,
        _ => u,
    };
    char::from_u32(mapped).unwrap_or(c)
}

pub fn is_lower(c: char) -> bool {
    upper(c) != c
}

pub fn is_upper(c: char) -> bool {
    lower(c) != c
}

/// A letter: ASCII letters, and every character above U+007F that is not a space, a control,
/// punctuation or a symbol from the common symbol blocks (see the module documentation).
pub fn is_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
        || (c as u32 > 0x7F
            && !c.is_whitespace()
            && !c.is_control()
            && !matches!(
                c,
                '\u{A0}'..='\u{BF}'
                    | '×'
                    | '÷'
                    | '\u{2000}'..='\u{2BFF}'
                    | '\u{3000}'..='\u{303F}'
                    | '\u{FE00}'..='\u{FE0F}'
                    | '\u{FF00}'..='\u{FF20}'
                    | '\u{1F000}'..='\u{1FAFF}'
            ))
}

pub fn is_letter_or_digit(c: char) -> bool {
    c.is_ascii_digit() || is_letter(c)
}

pub fn lowercase(s: &str) -> String {
    lowercase_cow(s).into_owned()
}

/// [`lowercase`], borrowing `s` when it is lowercase already (the common case for the values
/// conditions compare, so a score or a routing decision allocates nothing for them).
pub fn lowercase_cow(s: &str) -> std::borrow::Cow<'_, str> {
    // ASCII (most names, titles, domains) takes the byte-wise fast path.
    if s.is_ascii() {
        return if s.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(s.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(s)
        };
    }
    if s.chars().all(|c| lower(c) == c) {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(s.chars().map(lower).collect())
    }
}

/// A decimal number ("12", "-3.5", "1,000") without `f64::from_str`, whose tables add about 15 KB
/// of gzipped WASM to a worker. Up to 15 integer and 6 fractional digits; commas group thousands.
pub fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let s: std::borrow::Cow<str> = if s.contains(',') {
        s.chars().filter(|c| *c != ',').collect::<String>().into()
    } else {
        s.into()
    };
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty())
        || !digits(int)
        || !digits(frac)
        || int.len() > 15
        || frac.len() > 6
    {
        return None;
    }
    let whole = if int.is_empty() {
        0
    } else {
        int.parse::<u64>().ok()?
    };
    let fraction = if frac.is_empty() {
        0
    } else {
        frac.parse::<u64>().ok()?
    };
    let value = whole as f64 + fraction as f64 / 10u64.pow(frac.len() as u32) as f64;
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_standard_library_on_the_covered_blocks() {
        let blocks = [0x20..0x7F, 0xC0..0x180, 0x386..0x3CF, 0x400..0x460];
        for block in blocks {
            for u in block {
                let c = char::from_u32(u).unwrap();
                let std_lower: Vec<char> = c.to_lowercase().collect();
                let std_upper: Vec<char> = c.to_uppercase().collect();
                if std_lower.len() == 1 && u != 0x130 {
                    assert_eq!(lower(c), std_lower[0], "lower of U+{u:04X} {c}");
                }
                if std_upper.len() == 1 && u != 0x131 && u != 0x17F && u != 0x3C2 {
                    assert_eq!(upper(c), std_upper[0], "upper of U+{u:04X} {c}");
                }
            }
        }
    }

    #[test]
    fn special_cases() {
        assert_eq!(lower('İ'), 'i');
        assert_eq!(upper('ı'), 'I');
        assert_eq!(upper('ß'), 'ß');
        assert_eq!(upper('ς'), 'Σ');
        assert_eq!(lower('中'), '中');
        assert_eq!(
            lowercase("ÉMILE ZOLA Ωμέγα ПУШКИН"),
            "émile zola ωμέγα пушкин"
        );
        assert!(is_upper('Ž') && is_lower('ž') && !is_upper('1'));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("12"), Some(12.0));
        assert_eq!(parse_number(" -3.5 "), Some(-3.5));
        assert_eq!(parse_number("2,500,000"), Some(2_500_000.0));
        assert_eq!(parse_number(".5"), Some(0.5));
        assert_eq!(parse_number("1e5"), None);
        assert_eq!(parse_number(""), None);
        assert_eq!(parse_number("-"), None);
        assert_eq!(parse_number("1.2.3"), None);
    }

    #[test]
    fn letters() {
        for c in ['a', 'Z', 'é', 'ß', 'Ω', 'ж', '中', 'ü'] {
            assert!(is_letter(c), "{c}");
        }
        for c in [' ', '1', '-', '@', '\u{A0}', '×', '—', '。', '€', '™', '😀'] {
            assert!(!is_letter(c), "{c}");
        }
        assert!(is_letter_or_digit('7'));
    }
}
