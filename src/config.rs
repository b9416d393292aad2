//! The configuration file: the database and the targets (projects, regions, filters) that
//! `sync --all` or `sync TARGET...` syncs, each with where its credentials come from.
//!
//! It is TOML, found at `--config`, `VPN_INVENTORY_CONFIG`, or `config.toml` in the user's
//! configuration directory (`~/.config/vpn-inventory/` on Linux); a missing default file is no
//! error. It never holds a secret itself: credentials come from environment variables it names,
//! or from a file only its owner may read.
//!
//! ```toml
//! database = "sqlite:///var/lib/vpn-inventory/inventory.db"
//! policy = "policy.toml"             # what `check` holds connections to
//!
//! [[targets]]
//! name = "prod-north"
//! project_id = "0123456789abcdef0123456789abcdef"
//! region = "cn-north-4"              # or endpoint = "https://vpn.example.internal"
//! vgw_id = "..."                     # filters: vgw_id, vgw_ip, vpn_id, eip_id,
//! enterprise_project_ids = ["0"]     #   enterprise_project_ids
//! credentials = { ak_env = "PROD_AK", sk_env = "PROD_SK" }
//!
//! [[targets]]
//! name = "lab"
//! project_id = "..."
//! endpoint = "https://vpn.lab.example"
//! credentials = { file = "/etc/vpn-inventory/lab.credentials" }  # ak = "...", sk = "..."
//! ```

use crate::api::credentials::{Credentials, ENV_AK, ENV_AUTH_TOKEN, ENV_SECURITY_TOKEN, ENV_SK};
use crate::scope::Filters;
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The environment variable naming the configuration file.
pub const ENV_CONFIG: &str = "VPN_INVENTORY_CONFIG";

/// The configuration file's content.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The inventory database (`--database` and `VPN_INVENTORY_DATABASE` override it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The policy `check` holds connections to (`--policy` overrides it); a relative path is
    /// read from the configuration file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PathBuf>,
    #[serde(default)]
    pub targets: Vec<Target>,
}

/// One project (narrowed by filters, if any) to sync, and how to reach it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    pub project_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vgw_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vgw_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpn_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eip_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enterprise_project_ids: Vec<String>,
    /// Ask the Cloud Trace Service who made each change (`sync --with-traces`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub traces: bool,
    /// Where CTS is, when not at the region's default (or at `endpoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cts_endpoint: Option<String>,
    /// Where the credentials come from; the SDK's environment variables when absent.
    #[serde(default)]
    pub credentials: CredentialSource,
}

/// Where a target's credentials come from. Names, never values.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CredentialSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ak_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sk_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_token_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token_env: Option<String>,
    /// A TOML file with `ak`, `sk` (and `security_token`), or `auth_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

/// The default configuration file, if the platform has a configuration directory.
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|dir| dir.join("vpn-inventory").join("config.toml"))
}

/// The default database when neither a flag, the environment nor the configuration names one:
/// in the user's data directory, so it does not depend on where cron starts the job.
pub fn default_database() -> String {
    match dirs::data_dir() {
        Some(dir) => format!(
            "sqlite://{}",
            dir.join("vpn-inventory").join("inventory.db").display()
        ),
        None => "sqlite://vpn-inventory.db".to_owned(),
    }
}

/// A configuration file that does not read. Its message spans lines (TOML points at the
/// column that is wrong), and it is the user's own file, so it is printed line for line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration {}: {message}", path.display())]
pub struct InvalidConfig {
    pub path: PathBuf,
    pub message: String,
}

impl Config {
    /// Reads the configuration: `explicit` (from `--config` or `VPN_INVENTORY_CONFIG`) must
    /// exist; the default file may be missing (then the configuration is empty).
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<(Self, Option<PathBuf>)> {
        let (path, required) = match explicit {
            Some(path) => (path.to_owned(), true),
            None => match default_path() {
                Some(path) => (path, false),
                None => return Ok((Self::default(), None)),
            },
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Self::default(), None));
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read configuration {}", path.display()));
            }
        };
        match Self::parse(&text) {
            Ok(mut config) => {
                if let (Some(policy), Some(dir)) = (&config.policy, path.parent()) {
                    config.policy = Some(dir.join(policy));
                }
                Ok((config, Some(path)))
            }
            Err(e) => Err(InvalidConfig {
                path,
                message: match e.downcast_ref::<toml::de::Error>() {
                    Some(toml) => toml_error(&text, toml),
                    None => crate::text::causes(e.as_ref()),
                },
            }
            .into()),
        }
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let config: Self = toml::from_str(text)?;
        let mut names = std::collections::HashSet::new();
        for target in &config.targets {
            let name = &target.name;
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                anyhow::bail!(
                    "target name {:?}: use letters, digits, '-', '_' and '.'",
                    name.escape_debug().to_string()
                );
            }
            if !names.insert(name) {
                anyhow::bail!("target {name} is named twice");
            }
            if target.project_id.trim().is_empty() {
                anyhow::bail!("target {name}: project_id is empty");
            }
            if target.region.is_none() && target.endpoint.is_none() {
                anyhow::bail!("target {name}: give region or endpoint");
            }
        }
        Ok(config)
    }

    /// The targets named, in order, or all of them for `None`; an unknown name is an error
    /// listing the known ones.
    pub fn targets(&self, names: Option<&[String]>) -> anyhow::Result<Vec<&Target>> {
        let Some(names) = names else {
            if self.targets.is_empty() {
                anyhow::bail!("the configuration names no targets");
            }
            return Ok(self.targets.iter().collect());
        };
        names
            .iter()
            .map(|name| {
                self.targets
                    .iter()
                    .find(|t| &t.name == name)
                    .ok_or_else(|| {
                        let known: Vec<&str> =
                            self.targets.iter().map(|t| t.name.as_str()).collect();
                        // A usage mistake (exit 64), as an unknown flag is.
                        crate::usage::UsageError(format!(
                            "no target named {name:?} in the configuration (known: {})",
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            }
                        ))
                        .into()
                    })
            })
            .collect()
    }
}

impl Target {
    pub fn filters(&self) -> Filters {
        Filters {
            vgw_id: self.vgw_id.clone(),
            vgw_ip: self.vgw_ip.clone(),
            vpn_id: self.vpn_id.clone(),
            eip_id: self.eip_id.clone(),
            enterprise_project_ids: self.enterprise_project_ids.clone(),
        }
        .normalized()
    }

    /// Reads and checks the target's credentials.
    pub fn credentials(&self) -> anyhow::Result<Credentials> {
        let source = &self.credentials;
        if let Some(file) = &source.file {
            let values = read_credential_file(file)
                .with_context(|| format!("credentials file {}", file.display()))?;
            return Credentials::from_lookup(|key| values.get(key).cloned())
                .with_context(|| format!("credentials file {}", file.display()));
        }
        // Each standard variable, or the one the target names instead.
        let renamed = [
            (ENV_AK, &source.ak_env),
            (ENV_SK, &source.sk_env),
            (ENV_SECURITY_TOKEN, &source.security_token_env),
            (ENV_AUTH_TOKEN, &source.auth_token_env),
        ];
        let variable = |standard: &str| -> String {
            renamed
                .iter()
                .find(|(s, _)| *s == standard)
                .and_then(|(_, own)| (*own).clone())
                .unwrap_or_else(|| standard.to_owned())
        };
        for (standard, _) in renamed {
            let var = variable(standard);
            if let Err(std::env::VarError::NotUnicode(_)) = std::env::var(&var) {
                anyhow::bail!("{var} is not valid UTF-8");
            }
        }
        // Errors name the variables as configured; whoever reports one names the target.
        let value = |key: &str| std::env::var(variable(key)).ok().filter(|v| !v.is_empty());
        Credentials::from_named_lookup(value, variable)
    }
}

/// A TOML error in a configuration file as toml words it, the offending line quoted below a
/// "line L, column C" header, unless that line holds a secret (a key named like one, a URL
/// with a password): then the line is not quoted, only where it is and its key.
fn toml_error(text: &str, error: &toml::de::Error) -> String {
    let Some(span) = error.span() else {
        return crate::text::redact_secrets(&error.to_string());
    };
    let (line, column) = crate::text::line_and_column(text, span.start);
    let lines = text
        .lines()
        .skip(line - 1)
        .take(text[span.clone()].lines().count().max(1));
    let secret = lines.clone().any(holds_secret);
    if !secret {
        return crate::text::redact_secrets(&error.to_string());
    }
    let key = lines
        .clone()
        .next()
        .and_then(|l| l.split_once('='))
        .map(|(key, _)| format!(" (key {})", crate::text::start(key.trim())))
        .unwrap_or_default();
    format!(
        "line {line}, column {column}{key}: {} (the line is not shown: it holds a secret)",
        crate::text::redact_secrets(error.message().trim_end())
    )
}

/// Whether a line of TOML may hold a secret: a key named like one, or a URL with a password.
fn holds_secret(line: &str) -> bool {
    let key = line.split_once('=').map_or("", |(k, _)| k).trim();
    let key = key
        .trim_matches(|c| c == '"' || c == '\'')
        .to_ascii_lowercase();
    let secret_key = ["secret", "password", "passwd", "token", "credential"]
        .iter()
        .any(|word| key.contains(word))
        || key.split(['_', '-', '.']).any(|part| part == "sk");
    secret_key || crate::text::redact_secrets(line) != line
}

/// A credentials file's values under the standard variable names; refused when others may read
/// it.
fn read_credential_file(path: &Path) -> anyhow::Result<HashMap<&'static str, String>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "is readable by others (mode {:o}): chmod 600 it",
                mode & 0o777
            );
        }
    }
    let text = std::fs::read_to_string(path)?;
    credential_values(&text)
}

/// The keys of a credentials file and the variables they stand for.
const CREDENTIAL_KEYS: [(&str, &str); 4] = [
    ("ak", ENV_AK),
    ("sk", ENV_SK),
    ("security_token", ENV_SECURITY_TOKEN),
    ("auth_token", ENV_AUTH_TOKEN),
];

/// A credentials file's text read, its errors naming a line or a key and never a value:
/// toml's own errors quote the offending line, or the value of a wrong type.
fn credential_values(text: &str) -> anyhow::Result<HashMap<&'static str, String>> {
    let expected = "expected ak, sk, security_token or auth_token";
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map_or((0, 0), |span| {
            crate::text::line_and_column(text, span.start)
        });
        let at = if line > 0 {
            format!(" (line {line}, column {column})")
        } else {
            String::new()
        };
        anyhow::anyhow!("is not TOML{at}: {}", e.message().trim_end())
    })?;
    let mut values = HashMap::new();
    for (key, value) in table {
        let Some((_, variable)) = CREDENTIAL_KEYS.iter().find(|(k, _)| *k == key) else {
            anyhow::bail!("unknown key {}: {expected}", crate::text::start(&key));
        };
        let toml::Value::String(value) = value else {
            anyhow::bail!("{key} must be a string, not {}", value.type_str());
        };
        values.insert(*variable, value);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_configuration_parses() {
        let config = Config::parse(include_str!("../config.example.toml")).unwrap();
        let names: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["prod-north", "lab-gateway", "staging"]);
        assert!(config.database.is_some());
    }

    #[test]
    fn targets_parse_and_bad_ones_are_named() {
        let config = Config::parse(
            r#"
            database = "sqlite:///tmp/x.db"
            [[targets]]
            name = "a"
            project_id = "p"
            region = "cn-north-4"
            enterprise_project_ids = ["b", "a", "b"]
            credentials = { ak_env = "A_AK", sk_env = "A_SK" }
            [[targets]]
            name = "b"
            project_id = "q"
            endpoint = "http://127.0.0.1:1"
            "#,
        )
        .unwrap();
        assert_eq!(config.targets.len(), 2);
        assert_eq!(
            config.targets[0].filters().enterprise_project_ids,
            ["a", "b"]
        );
        let b = config.targets(Some(&["b".to_owned()])).unwrap();
        assert_eq!(b[0].project_id, "q");
        let unknown = config.targets(Some(&["c".to_owned()])).unwrap_err();
        assert!(unknown.to_string().contains("known: a, b"), "{unknown}");

        for (bad, says) in [
            (
                "[[targets]]\nname = \"a\"\nproject_id = \"p\"\n",
                "region or endpoint",
            ),
            (
                "[[targets]]\nname = \"a b\"\nproject_id = \"p\"\nregion = \"r\"\n",
                "a b",
            ),
            (
                "[[targets]]\nname = \"a\"\nproject_id = \"p\"\nregon = \"r\"\n",
                "regon",
            ),
            (
                "[[targets]]\nname = \"a\"\nproject_id = \"p\"\nregion = \"r\"\n\
                 [[targets]]\nname = \"a\"\nproject_id = \"q\"\nregion = \"r\"\n",
                "named twice",
            ),
        ] {
            let error = format!("{:#}", Config::parse(bad).unwrap_err());
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_credentials_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("creds");
        std::fs::write(&file, "ak = \"AKVALUE\"\nsk = \"sk-secret-value\"\n").unwrap();
        let target = Target {
            name: "t".into(),
            project_id: "p".into(),
            region: Some("r".into()),
            credentials: CredentialSource {
                file: Some(file.clone()),
                ..CredentialSource::default()
            },
            ..Target::default()
        };
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = format!("{:#}", target.credentials().unwrap_err());
        assert!(error.contains("chmod 600"), "{error}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            target.credentials().unwrap(),
            Credentials::AkSk { .. }
        ));
        std::fs::write(&file, "ak = \"AKVALUE\"\nsk = sk-secret-value\n").unwrap();
        let error = format!("{:#}", target.credentials().unwrap_err());
        assert!(!error.contains("sk-secret-value"), "{error}");
    }

    #[test]
    fn a_credentials_file_error_names_the_key_never_the_value() {
        let error = |text: &str| credential_values(text).unwrap_err().to_string();
        let number = error("ak = \"AK1\"\nsk = 98765432123456789\n");
        assert_eq!(number, "sk must be a string, not integer");
        let broken = error("ak = \"AK1\"\nsk = \"s3cr3t-value\n");
        assert!(
            broken.contains("line 2") && !broken.contains("s3cr3t"),
            "{broken}"
        );
        let unknown = error("ak = \"AK1\"\nsk_typo = \"s3cr3t-value\"\n");
        assert!(unknown.contains("unknown key sk_typo"), "{unknown}");
        let values = credential_values("ak = \"AK1\"\nsk = \"x\"\n").unwrap();
        assert_eq!(values[ENV_SK], "x");
    }

    #[test]
    fn a_configuration_error_does_not_quote_a_line_holding_a_secret() {
        let text = "database = \"postgres://postgres:CFGSECRET2@h/db\nx = 1\n";
        let error = toml_error(text, &toml::from_str::<Config>(text).unwrap_err());
        assert!(!error.contains("CFGSECRET2"), "{error}");
        assert!(
            error.contains("line 1") && error.contains("key database"),
            "{error}"
        );
        // Other lines are quoted as toml quotes them.
        let text = "database = \"sqlite://x.db\"\n[[targets]]\nname = \"a\"\nnam = \"b\"\n";
        let error = toml_error(text, &toml::from_str::<Config>(text).unwrap_err());
        assert!(error.contains("nam = \"b\""), "{error}");
    }
}
