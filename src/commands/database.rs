//! Which inventory database a command uses.

use crate::config::Config;
use crate::store::DatabaseUrl;
use anyhow::Context as _;

/// The database to use: `--database` (or `VPN_INVENTORY_DATABASE`), else the configuration's,
/// else the default in the user's data directory, whose directory is created (owner only).
pub fn database_url(flag: Option<String>, config: &Config) -> anyhow::Result<DatabaseUrl> {
    if let Some(url) = flag.or_else(|| config.database.clone()) {
        return DatabaseUrl::parse(&url);
    }
    let url = crate::config::default_database();
    if let Some(dir) = url
        .strip_prefix("sqlite://")
        .and_then(|file| std::path::Path::new(file).parent())
        .filter(|dir| !dir.as_os_str().is_empty())
    {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    }
    DatabaseUrl::parse(&url)
}
