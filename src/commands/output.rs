//! What every command's stdout is made of: plain tables, sizes, and writing to a pipe.

/// A size as the summaries print it: decimal megabytes, one decimal.
pub fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// A table for stdout, which is often piped: no borders, no colours, no wrapping to a
/// terminal's width; columns two spaces apart, the given ones right-aligned (numbers).
pub fn plain_table(header: &[&str], right_aligned: &[usize]) -> comfy_table::Table {
    use comfy_table::{CellAlignment, Table, presets};
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_header(header.to_vec());
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, 2));
        if right_aligned.contains(&i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// The table's text, one line per row, without trailing spaces.
pub fn table_text(table: &comfy_table::Table) -> String {
    table.trim_fmt() + "\n"
}

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// `count` of `noun`, in the plural unless it is one: `1 page`, `12 pages`.
pub fn counted(count: i64, noun: &str) -> String {
    match count {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(super::counted(1, "page"), "1 page");
        assert_eq!(super::counted(0, "page"), "0 pages");
        assert_eq!(super::counted(504, "page"), "504 pages");
    }
}
