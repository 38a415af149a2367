//! Email addresses: trimmed, lower-cased, validated; the company domain they imply.
//!
//! Validation is practical, not RFC 5322 in full: what a marketing database can actually send to.
//! One `@`; a local part of 1–64 characters from the dot-atom set, no leading, trailing or double
//! dots; a domain of at least two labels of letters, digits and hyphens (or internationalised
//! letters), a TLD of at least two letters; 254 characters at most.

/// A valid, normalised email address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Email(String);

impl Email {
    /// Trims, strips a `mailto:` prefix and angle brackets, lower-cases and validates.
    pub fn parse(raw: &str) -> Result<Email, &'static str> {
        let mut s = raw.trim();
        if let Some(rest) = s
            .strip_prefix("mailto:")
            .or_else(|| s.strip_prefix("MAILTO:"))
        {
            s = rest.trim();
        }
        if let Some(inner) = s.strip_prefix('<').and_then(|r| r.strip_suffix('>')) {
            s = inner.trim();
        }
        if s.is_empty() {
            return Err("is missing");
        }
        let email = crate::text::lowercase(s);
        if email.chars().count() > 254 {
            return Err("is longer than 254 characters");
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err("has no @");
        };
        if local.contains('@') {
            return Err("has more than one @");
        }
        validate_local(local)?;
        validate_domain(domain)?;
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }

    /// Whether the address is at a free-mail provider (so its domain says nothing about a company).
    pub fn is_free_mail(&self) -> bool {
        is_free_mail_domain(self.domain())
    }

    /// The company domain the address implies, unless it is a free-mail address.
    pub fn company_domain(&self) -> Option<&str> {
        (!self.is_free_mail()).then(|| self.domain())
    }

    /// Role accounts (info@, sales@ …) are people's inboxes only sometimes; scoring may care.
    pub fn is_role_account(&self) -> bool {
        let local = self.0.split('@').next().unwrap_or("");
        ROLE_ACCOUNTS.contains(&local)
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn validate_local(local: &str) -> Result<(), &'static str> {
    if local.is_empty() {
        return Err("has nothing before the @");
    }
    if local.len() > 64 {
        return Err("has more than 64 characters before the @");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("has a misplaced dot before the @");
    }
    let ok = local
        .chars()
        .all(|c| crate::text::is_letter_or_digit(c) || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    if !ok {
        return Err("has characters not allowed in an address");
    }
    Ok(())
}

fn validate_domain(domain: &str) -> Result<(), &'static str> {
    if domain.is_empty() {
        return Err("has nothing after the @");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("needs a domain like example.com after the @");
    }
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return Err("has an invalid domain");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("has an invalid domain");
        }
        if !label
            .chars()
            .all(|c| crate::text::is_letter_or_digit(c) || c == '-')
        {
            return Err("has an invalid domain");
        }
    }
    let tld = labels.last().unwrap_or(&"");
    if tld.chars().count() < 2 || tld.chars().all(|c| c.is_ascii_digit()) {
        return Err("has an invalid top-level domain");
    }
    Ok(())
}

/// Consumer mailbox providers: their domain is not the person's company.
pub const FREE_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "hotmail.de",
    "hotmail.it",
    "hotmail.es",
    "live.com",
    "live.co.uk",
    "live.fr",
    "live.nl",
    "msn.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.fr",
    "yahoo.de",
    "yahoo.es",
    "yahoo.it",
    "yahoo.co.jp",
    "yahoo.com.br",
    "yahoo.co.in",
    "ymail.com",
    "rocketmail.com",
    "aol.com",
    "aim.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "gmx.com",
    "gmx.net",
    "gmx.de",
    "gmx.at",
    "gmx.ch",
    "web.de",
    "t-online.de",
    "freenet.de",
    "mail.com",
    "email.com",
    "zoho.com",
    "zohomail.com",
    "yandex.com",
    "yandex.ru",
    "ya.ru",
    "mail.ru",
    "bk.ru",
    "inbox.ru",
    "list.ru",
    "rambler.ru",
    "qq.com",
    "163.com",
    "126.com",
    "yeah.net",
    "sina.com",
    "sohu.com",
    "naver.com",
    "daum.net",
    "hanmail.net",
    "fastmail.com",
    "fastmail.fm",
    "hey.com",
    "tutanota.com",
    "tuta.io",
    "hushmail.com",
    "orange.fr",
    "wanadoo.fr",
    "free.fr",
    "laposte.net",
    "sfr.fr",
    "libero.it",
    "virgilio.it",
    "tiscali.it",
    "btinternet.com",
    "sky.com",
    "talktalk.net",
    "virginmedia.com",
    "ntlworld.com",
    "bigpond.com",
    "optusnet.com.au",
    "shaw.ca",
    "rogers.com",
    "sympatico.ca",
    "comcast.net",
    "verizon.net",
    "att.net",
    "sbcglobal.net",
    "bellsouth.net",
    "cox.net",
    "charter.net",
    "earthlink.net",
    "juno.com",
    "uol.com.br",
    "bol.com.br",
    "terra.com.br",
    "rediffmail.com",
    "seznam.cz",
    "wp.pl",
    "o2.pl",
    "onet.pl",
    "interia.pl",
    "bluewin.ch",
    "telenet.be",
    "skynet.be",
    "ziggo.nl",
    "kpnmail.nl",
    "planet.nl",
    "xs4all.nl",
    "hetnet.nl",
];

pub fn is_free_mail_domain(domain: &str) -> bool {
    FREE_MAIL_DOMAINS.contains(&domain)
}

const ROLE_ACCOUNTS: &[&str] = &[
    "info",
    "sales",
    "admin",
    "office",
    "contact",
    "hello",
    "support",
    "team",
    "marketing",
    "billing",
    "accounts",
    "hr",
    "jobs",
    "careers",
    "enquiries",
    "inquiries",
    "noreply",
    "no-reply",
    "postmaster",
    "webmaster",
];

/// The bare host of a website or URL (`https://www.Acme.com/about` → `acme.com`).
pub fn domain_of_website(raw: &str) -> Option<String> {
    let s = crate::text::lowercase(raw.trim());
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(&s);
    let host = s.split(['/', '?', '#', ':']).next().unwrap_or("");
    let host = host.strip_prefix("www.").unwrap_or(host);
    let valid = host.contains('.')
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| crate::text::is_letter_or_digit(c) || c == '-')
        });
    valid.then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lowercases() {
        assert_eq!(
            Email::parse("  Jane.Doe@ACME.com ").unwrap().as_str(),
            "jane.doe@acme.com"
        );
        assert_eq!(
            Email::parse("mailto:bob@x.io").unwrap().as_str(),
            "bob@x.io"
        );
        assert_eq!(Email::parse("<bob@x.io>").unwrap().as_str(), "bob@x.io");
        assert_eq!(
            Email::parse("o'brien+tag@sub.example.co.uk")
                .unwrap()
                .domain(),
            "sub.example.co.uk"
        );
        assert_eq!(
            Email::parse("jürgen@müller.de").unwrap().as_str(),
            "jürgen@müller.de"
        );
    }

    #[test]
    fn rejects_what_cannot_be_sent_to() {
        for (raw, reason) in [
            ("", "is missing"),
            ("   ", "is missing"),
            ("jane", "has no @"),
            ("jane@", "has nothing after the @"),
            ("@acme.com", "has nothing before the @"),
            ("a@b@c.com", "has more than one @"),
            ("jane@acme", "needs a domain like example.com after the @"),
            ("jane..doe@acme.com", "has a misplaced dot before the @"),
            (".jane@acme.com", "has a misplaced dot before the @"),
            (
                "jane doe@acme.com",
                "has characters not allowed in an address",
            ),
            ("jane@-acme.com", "has an invalid domain"),
            ("jane@acme..com", "has an invalid domain"),
            ("jane@acme.c", "has an invalid top-level domain"),
            ("jane@127.0.0.1", "has an invalid top-level domain"),
        ] {
            assert_eq!(Email::parse(raw), Err(reason), "{raw:?}");
        }
        let long_local = format!("{}@acme.com", "a".repeat(65));
        assert!(Email::parse(&long_local).is_err());
    }

    #[test]
    fn company_domain_skips_free_mail() {
        assert_eq!(
            Email::parse("jane@acme.com").unwrap().company_domain(),
            Some("acme.com")
        );
        assert_eq!(
            Email::parse("jane@gmail.com").unwrap().company_domain(),
            None
        );
        assert_eq!(
            Email::parse("jane@Outlook.com").unwrap().company_domain(),
            None
        );
        assert!(Email::parse("info@acme.com").unwrap().is_role_account());
        assert!(!Email::parse("jane@acme.com").unwrap().is_role_account());
    }

    #[test]
    fn website_domains() {
        assert_eq!(
            domain_of_website("https://www.Acme.com/about?x=1").as_deref(),
            Some("acme.com")
        );
        assert_eq!(domain_of_website("acme.io").as_deref(), Some("acme.io"));
        assert_eq!(
            domain_of_website("http://shop.acme.co.uk:8080").as_deref(),
            Some("shop.acme.co.uk")
        );
        assert_eq!(domain_of_website("not a site"), None);
        assert_eq!(domain_of_website(""), None);
    }
}
