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

/// Replaces the password of `scheme://user:password@host` and of a `password=` query parameter.
fn redact(raw: &str) -> String {
    let mut out = raw.to_owned();
    if let Some((scheme, rest)) = raw.split_once("://") {
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@')
            && let Some(colon) = authority[..at].find(':')
        {
            out = format!("{scheme}://{}:***{}", &authority[..colon], &rest[at..]);
        }
    }
    if let Some(start) = out.find("password=") {
        let value_start = start + "password=".len();
        let value_end = out[value_start..]
            .find('&')
            .map_or(out.len(), |i| value_start + i);
        out.replace_range(value_start..value_end, "***");
    }
    out
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
    fn unknown_scheme_is_rejected_without_secret() {
        let err = DatabaseUrl::parse("mysql://u:topsecret@h/db").unwrap_err();
        assert!(err.to_string().contains("mysql://u:***@h/db"), "{err}");
    }

    #[test]
    fn sqlite_url_is_kept_verbatim() {
        let url = DatabaseUrl::parse("sqlite://vpn-inventory.db").unwrap();
        assert_eq!(url.backend(), Backend::Sqlite);
        assert_eq!(url.expose(), "sqlite://vpn-inventory.db");
    }
}
