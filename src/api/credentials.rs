//! Credentials for the Huawei Cloud API, read from the official SDKs' environment names.
//!
//! Secrets live in `Secret`, whose `Debug` and `Display` never show the value, so a stray
//! `{:?}` in a log line or an error cannot leak them.

use std::fmt;

pub const ENV_AK: &str = "HUAWEICLOUD_SDK_AK";
pub const ENV_SK: &str = "HUAWEICLOUD_SDK_SK";
pub const ENV_SECURITY_TOKEN: &str = "HUAWEICLOUD_SDK_SECURITY_TOKEN";
pub const ENV_AUTH_TOKEN: &str = "HUAWEICLOUD_AUTH_TOKEN";

/// A secret string: shown as `***` everywhere except `expose()`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How requests authenticate: AK/SK signing (optionally with a temporary security token), or an
/// IAM token sent as `X-Auth-Token`.
#[derive(Clone, Debug)]
pub enum Credentials {
    AkSk {
        access_key: String,
        secret_key: Secret,
        security_token: Option<Secret>,
    },
    Token(Secret),
}

impl Credentials {
    /// Reads credentials from the environment: AK/SK when both are set, else a token.
    pub fn from_env() -> anyhow::Result<Self> {
        for name in [ENV_AK, ENV_SK, ENV_SECURITY_TOKEN, ENV_AUTH_TOKEN] {
            if let Err(std::env::VarError::NotUnicode(_)) = std::env::var(name) {
                anyhow::bail!("{name} is not valid UTF-8");
            }
        }
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Credentials from `get` (a variable's value by name), each checked before it is used.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        Self::from_named_lookup(get, |standard| standard.to_owned())
    }

    /// As [`Credentials::from_lookup`], where each standard variable may go by another name
    /// (a configured target's `ak_env`, ...): `name` gives it, and errors use it, so they name
    /// the variable the user set or must set.
    pub fn from_named_lookup(
        get: impl Fn(&str) -> Option<String>,
        name: impl Fn(&str) -> String,
    ) -> anyhow::Result<Self> {
        let credentials = Self::read(get, &name)?;
        credentials.check(&name)?;
        Ok(credentials)
    }

    fn read(
        get: impl Fn(&str) -> Option<String>,
        name: &impl Fn(&str) -> String,
    ) -> anyhow::Result<Self> {
        let [ak, sk, security_token, auth_token] =
            [ENV_AK, ENV_SK, ENV_SECURITY_TOKEN, ENV_AUTH_TOKEN].map(name);
        match (get(ENV_AK), get(ENV_SK)) {
            (Some(access_key), Some(secret_key)) => Ok(Self::AkSk {
                access_key,
                secret_key: Secret::new(secret_key),
                security_token: get(ENV_SECURITY_TOKEN).map(Secret::new),
            }),
            (Some(_), None) => anyhow::bail!("{ak} is set but {sk} is not"),
            (None, Some(_)) => anyhow::bail!("{sk} is set but {ak} is not"),
            (None, None) => match get(ENV_AUTH_TOKEN) {
                Some(token) => Ok(Self::Token(Secret::new(token))),
                None => anyhow::bail!(
                    "no credentials: set {ak} and {sk} (plus {security_token} for temporary \
                     credentials), or {auth_token} for an IAM token"
                ),
            },
        }
    }
}

impl Credentials {
    /// Values that would break or forge a header (or sign with a blank key) fail here, naming
    /// the variable, never showing the value.
    fn check(&self, name: &impl Fn(&str) -> String) -> anyhow::Result<()> {
        match self {
            Credentials::AkSk {
                access_key,
                secret_key,
                security_token,
            } => {
                // The AK stands in `Authorization: ... Access=AK, SignedHeaders=...`.
                header_safe(&name(ENV_AK), access_key, &[',', '='])?;
                if secret_key.expose().trim().is_empty() {
                    anyhow::bail!("{} is blank", name(ENV_SK));
                }
                if let Some(token) = security_token {
                    header_safe(&name(ENV_SECURITY_TOKEN), token.expose(), &[])?;
                }
                Ok(())
            }
            Credentials::Token(token) => header_safe(&name(ENV_AUTH_TOKEN), token.expose(), &[]),
        }
    }
}

/// Whether `value` can be sent as (part of) a header as it is: visible ASCII, none of `also`.
fn header_safe(name: &str, value: &str, also: &[char]) -> anyhow::Result<()> {
    if value.trim().is_empty() {
        anyhow::bail!("{name} is blank");
    }
    if let Some(c) = value
        .chars()
        .find(|c| !c.is_ascii_graphic() || also.contains(c))
    {
        let what = if c.is_ascii_graphic() {
            format!("{c:?}")
        } else {
            format!(
                "a character U+{:04X} (space, control or non-ASCII)",
                u32::from(c)
            )
        };
        anyhow::bail!("{name} holds {what}, which cannot be sent in an HTTP header");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn aksk_wins_over_token_and_secrets_do_not_debug_print() {
        let creds = Credentials::from_lookup(lookup(&[
            (ENV_AK, "AK1"),
            (ENV_SK, "very-secret-sk"),
            (ENV_SECURITY_TOKEN, "tmp-token-value"),
            (ENV_AUTH_TOKEN, "iam-token"),
        ]))
        .unwrap();
        let shown = format!("{creds:?}");
        assert!(shown.contains("AK1"));
        assert!(!shown.contains("very-secret-sk") && !shown.contains("tmp-token-value"));
    }

    #[test]
    fn half_a_key_pair_is_an_error_naming_the_missing_variable() {
        let err = Credentials::from_lookup(lookup(&[(ENV_AK, "AK1")])).unwrap_err();
        assert!(err.to_string().contains(ENV_SK));
        let err = Credentials::from_lookup(lookup(&[])).unwrap_err();
        assert!(err.to_string().contains(ENV_AUTH_TOKEN));
        assert!(matches!(
            Credentials::from_lookup(lookup(&[(ENV_AUTH_TOKEN, "t")])).unwrap(),
            Credentials::Token(_)
        ));
    }

    #[test]
    fn values_that_would_break_a_header_are_refused_by_name_not_value() {
        let with = |name: &str, value: &str| {
            let mut vars = vec![(ENV_AK, "AK1"), (ENV_SK, "sk")];
            vars.retain(|(n, _)| *n != name);
            vars.push((name, value));
            Credentials::from_lookup(lookup(&vars))
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        let err = with(ENV_AK, "AK1\r\nX-Evil: 1");
        assert!(err.starts_with(ENV_AK) && !err.contains("Evil"), "{err}");
        assert!(with(ENV_AK, "AK1, Signature=forged").contains(ENV_AK));
        assert!(with(ENV_AK, "AK=1").contains("'='"));
        assert!(with(ENV_SK, "   ").contains(&format!("{ENV_SK} is blank")));
        assert!(with(ENV_SECURITY_TOKEN, "tok en").contains(ENV_SECURITY_TOKEN));
        // Under other names (a configured target's), errors use those names.
        let renamed = |standard: &str| format!("PROD_{}", &standard[standard.len() - 2..]);
        let err = Credentials::from_named_lookup(|_| None, renamed).unwrap_err();
        assert!(err.to_string().contains("set PROD_AK and PROD_SK"), "{err}");
        let bad = Credentials::from_named_lookup(
            |key| (key == ENV_AK || key == ENV_SK).then(|| "AK\n1".to_owned()),
            renamed,
        );
        assert!(bad.unwrap_err().to_string().starts_with("PROD_AK"));
        let err = Credentials::from_lookup(lookup(&[(ENV_AUTH_TOKEN, "a\nb")])).unwrap_err();
        assert!(err.to_string().contains(ENV_AUTH_TOKEN), "{err}");
        // The SK is never sent, only used to sign: any non-blank value works.
        assert!(Credentials::from_lookup(lookup(&[(ENV_AK, "AK1"), (ENV_SK, "s k,=")])).is_ok());
    }
}
