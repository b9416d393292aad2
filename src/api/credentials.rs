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
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        match (get(ENV_AK), get(ENV_SK)) {
            (Some(access_key), Some(secret_key)) => Ok(Self::AkSk {
                access_key,
                secret_key: Secret::new(secret_key),
                security_token: get(ENV_SECURITY_TOKEN).map(Secret::new),
            }),
            (Some(_), None) => anyhow::bail!("{ENV_AK} is set but {ENV_SK} is not"),
            (None, Some(_)) => anyhow::bail!("{ENV_SK} is set but {ENV_AK} is not"),
            (None, None) => match get(ENV_AUTH_TOKEN) {
                Some(token) => Ok(Self::Token(Secret::new(token))),
                None => anyhow::bail!(
                    "no credentials: set {ENV_AK} and {ENV_SK} (plus {ENV_SECURITY_TOKEN} for \
                     temporary credentials), or {ENV_AUTH_TOKEN} for an IAM token"
                ),
            },
        }
    }
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
}
