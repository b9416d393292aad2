//! Build facts the binary reports in `--version`: the git commit it was built from and the
//! schema version its embedded migrations reach. Migrations are embedded at compile time, so a
//! change to them rebuilds. And the list of built-in reports: every `.sql` file of `queries/`,
//! so that adding a report is adding its file.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=queries");
    write_queries(Path::new("queries"));
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

/// `$OUT_DIR/queries.rs`: `QUERIES`, the (name, text) of every `queries/*.sql`, by name.
fn write_queries(dir: &Path) {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("queries/ is readable")
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".sql")?.to_owned();
            let path = Path::new(&manifest).join(dir).join(&name);
            Some((stem, path.to_str()?.to_owned()))
        })
        .collect();
    files.sort();
    let mut out = String::from("pub const QUERIES: &[(&str, &str)] = &[\n");
    for (stem, path) in files {
        out.push_str(&format!("    ({stem:?}, include_str!({path:?})),\n"));
    }
    out.push_str("];\n");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(Path::new(&out_dir).join("queries.rs"), out).expect("OUT_DIR is writable");
}
