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

/// How wide a default table may be: an ordinary terminal, or a cron mail, without wrapping.
pub const SCREEN_COLUMNS: usize = 120;

/// `text` cut to at most `max` characters, a cut marked with `…`.
pub fn clipped(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max.saturating_sub(1)).collect();
    kept + "…"
}

/// A table of `header` and `rows` whose last column (free text: notes, errors) is clipped so
/// that no line is wider than [`SCREEN_COLUMNS`]; `--wide` tables are not clipped.
pub fn screen_table(
    header: &[&str],
    right_aligned: &[usize],
    mut rows: Vec<Vec<String>>,
) -> comfy_table::Table {
    const PADDING: usize = 2;
    let width = |text: &str| text.chars().count();
    let last = header.len() - 1;
    let used: usize = (0..last)
        .map(|i| {
            let cells = rows.iter().map(|r| width(&r[i]));
            cells.chain([width(header[i])]).max().unwrap_or(0) + PADDING
        })
        .sum();
    // Always a few characters of the text, so a clipped note still says what kind it is.
    let room = SCREEN_COLUMNS.saturating_sub(used).max(12);
    for row in &mut rows {
        row[last] = clipped(&row[last], room);
    }
    let mut table = plain_table(header, right_aligned);
    table.add_rows(rows);
    table
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
    fn clipping_marks_the_cut_and_keeps_short_text() {
        assert_eq!(super::clipped("abcdef", 4), "abc…");
        assert_eq!(super::clipped("abcd", 4), "abcd");
    }

    #[test]
    fn a_screen_table_clips_its_last_column_to_the_screen() {
        let long = "x".repeat(300);
        let rows = vec![vec!["1".to_owned(), "a".repeat(50), long.clone()]];
        let text = super::table_text(&super::screen_table(&["RUN", "NAME", "NOTE"], &[0], rows));
        for line in text.lines() {
            assert!(line.chars().count() <= super::SCREEN_COLUMNS, "{line}");
        }
        assert!(text.contains("xxx…"), "{text}");
    }

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(super::counted(1, "page"), "1 page");
        assert_eq!(super::counted(0, "page"), "0 pages");
        assert_eq!(super::counted(504, "page"), "504 pages");
    }
}
