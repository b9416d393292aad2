//! Build facts the binary reports in `--version`: the git commit it was built from and the
//! schema version its embedded migrations reach. Migrations are embedded at compile time, so a
//! change to them rebuilds.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map_or_else(|| "unknown".to_owned(), |s| s.trim().to_owned());
    println!("cargo:rustc-env=VPN_INVENTORY_COMMIT={commit}");
    println!(
        "cargo:rustc-env=VPN_INVENTORY_SCHEMA={}",
        schema_version(Path::new("migrations/sqlite"))
    );
}

/// The highest `V<n>__` among the migration files.
fn schema_version(dir: &Path) -> u32 {
    let names = std::fs::read_dir(dir).into_iter().flatten().flatten();
    names
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.strip_prefix('V')?.split_once("__")?.0.parse().ok()
        })
        .max()
        .unwrap_or(0)
}
