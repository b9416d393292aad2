//! Database URLs: which backend they name, and a display form without the password.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database URL. `Display` and `Debug` hide any password it carries.
#[derive(Clone)]
pub struct DatabaseUrl {
    raw: String,
    backend: Backend,
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let scheme = raw.split_once(':').map(|(s, _)| s).unwrap_or("");
        let backend = match scheme {
            "sqlite" => Backend::Sqlite,
            "postgres" | "postgresql" => Backend::Postgres,
            _ => anyhow::bail!(
                "unsupported database URL {}: expected sqlite://FILE (or postgres://...)",
                redact(raw)
            ),
        };
        // `sqlite://` alone (or `sqlite:`) would open a throwaway in-memory database.
        let path = raw.trim_start_matches("sqlite:").trim_start_matches("//");
        if backend == Backend::Sqlite && path.split('?').next().unwrap_or("").is_empty() {
            anyhow::bail!(
                "database URL {raw:?} names no file: use sqlite://FILE, e.g. \
                 sqlite://vpn-inventory.db (relative) or sqlite:///var/lib/vpn-inventory.db"
            );
        }
        register_secrets(raw);
        Ok(Self {
            raw: raw.to_owned(),
            backend,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL with its secrets, for the driver only.
    pub fn expose(&self) -> &str {
        &self.raw
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.raw))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// The URL with every password shown as `***`: the one in `user:password@` and any query
/// parameter named `password` or `sslpassword` (libpq's), in any case. A URL that does not
/// parse shows only its scheme, since there is no telling where a secret would be in it.
fn redact(raw: &str) -> String {
    let hidden = || match raw.split_once(':') {
        Some((scheme, _)) if is_scheme(scheme) => format!("{scheme}://(unreadable URL hidden)"),
        _ => "(unreadable URL hidden)".to_owned(),
    };
    let Ok(mut url) = url::Url::parse(raw) else {
        return hidden();
    };
    if url.cannot_be_a_base() && raw.contains('@') {
        // `scheme:user:password@host` (no `//`) parses, but with the password in the path.
        return hidden();
    }
    let is_secret = is_secret_key;
    let secret_in_query = url.query_pairs().any(|(k, _)| is_secret(&k));
    if url.password().is_none() && !secret_in_query {
        // Nothing to hide: show it exactly as given.
        return raw.to_owned();
    }
    if url.password().is_some() && url.set_password(Some("***")).is_err() {
        return hidden();
    }
    if secret_in_query {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret(&k) {
                    "***".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// Remembers the passwords `raw` holds, as written and decoded, so that no line printed shows
/// them, whatever library text carries them (`crate::text::redact_secrets`).
fn register_secrets(raw: &str) {
    let Ok(url) = url::Url::parse(raw) else {
        return;
    };
    let mut secrets: Vec<String> = url
        .query_pairs()
        .filter(|(k, _)| is_secret_key(k))
        .map(|(_, v)| v.into_owned())
        .collect();
    if let Some(password) = url.password() {
        secrets.push(password.to_owned());
        let decoded = url::form_urlencoded::parse(password.as_bytes()).next();
        secrets.extend(decoded.map(|(k, _)| k.into_owned()));
    }
    for secret in secrets {
        crate::text::register_secret(&secret);
    }
}

/// A query parameter holding a password: `password` or `sslpassword` (libpq's), in any case.
fn is_secret_key(key: &str) -> bool {
    key.eq_ignore_ascii_case("password") || key.eq_ignore_ascii_case("sslpassword")
}

/// RFC 3986: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_display() {
        let url = DatabaseUrl::parse("postgres://inv:s3cret@db.example:5432/inv?sslmode=require")
            .unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://inv:***@db.example:5432/inv?sslmode=require"
        );
        assert!(!format!("{url:?}").contains("s3cret"));
        let url = DatabaseUrl::parse("postgresql://h/db?user=a&password=p4ss&x=1").unwrap();
        assert_eq!(url.to_string(), "postgresql://h/db?user=a&password=***&x=1");
    }

    #[test]
    fn query_passwords_are_hidden_in_any_case() {
        let url = DatabaseUrl::parse("postgres://h/db?PASSWORD=x1&sslPassword=x2&user=a").unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://h/db?PASSWORD=***&sslPassword=***&user=a"
        );
        let url = DatabaseUrl::parse("postgres://u:p%40ss@h/db?Password=x3").unwrap();
        assert_eq!(url.to_string(), "postgres://u:***@h/db?Password=***");
    }

    #[test]
    fn an_unreadable_url_shows_only_its_scheme() {
        let url = DatabaseUrl::parse("postgres://u:hunter2@[::1/db").unwrap();
        assert_eq!(url.to_string(), "postgres://(unreadable URL hidden)");
        assert_eq!(redact("u:hunter2@h"), "u://(unreadable URL hidden)");
        assert_eq!(redact("not a url: hunter2"), "(unreadable URL hidden)");
    }

    #[test]
    fn a_url_without_secrets_is_shown_as_given() {
        let raw = "postgres://inv@db.example/inv?sslmode=require&application_name=a%20b";
        assert_eq!(DatabaseUrl::parse(raw).unwrap().to_string(), raw);
    }

    #[test]
    fn unknown_scheme_is_rejected_without_secret() {
        let err = DatabaseUrl::parse("mysql://u:topsecret@h/db").unwrap_err();
        assert!(err.to_string().contains("mysql://u:***@h/db"), "{err}");
    }

    #[test]
    fn a_sqlite_url_without_a_file_is_refused() {
        for raw in ["sqlite://", "sqlite:", "sqlite://?mode=ro"] {
            let err = DatabaseUrl::parse(raw).unwrap_err().to_string();
            assert!(err.contains("names no file"), "{raw}: {err}");
        }
        assert!(DatabaseUrl::parse("sqlite::memory:").is_ok());
    }

    #[test]
    fn sqlite_url_is_kept_verbatim() {
        let url = DatabaseUrl::parse("sqlite://vpn-inventory.db").unwrap();
        assert_eq!(url.backend(), Backend::Sqlite);
        assert_eq!(url.expose(), "sqlite://vpn-inventory.db");
    }
}
