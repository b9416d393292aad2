//! The digest as Markdown (CommonMark with GitHub's tables). Every text is written on one
//! line (control characters as `\n`, ...) with the characters Markdown reads as syntax
//! escaped, so a `|` in a name cannot split a table cell and `<script>` stays text.

use super::digest::Digest;
use super::document::{Block, blocks};
use crate::text::one_line;

pub fn render(d: &Digest) -> String {
    let mut out = String::new();
    for block in blocks(d) {
        match block {
            Block::Heading(level, text) => {
                out.push_str(&"#".repeat(usize::from(level)));
                out.push(' ');
                out.push_str(&escape(&text));
            }
            Block::Paragraph(text) => out.push_str(&escape(&text)),
            Block::Warning(text) => {
                out.push_str("> **Warning:** ");
                out.push_str(&escape(&text));
            }
            Block::Items(items) => {
                let items: Vec<String> = items.iter().map(|i| format!("- {}", escape(i))).collect();
                out.push_str(&items.join("\n"));
            }
            Block::Table { header, rows } => table(&header, &rows, &mut out),
            Block::Timeline(days) => timeline(&days, &mut out),
        }
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn table(header: &[String], rows: &[Vec<String>], out: &mut String) {
    if rows.is_empty() {
        out.push_str("(none)");
        return;
    }
    let line = |cells: &[String]| {
        let cells: Vec<String> = cells.iter().map(|c| escape(c)).collect();
        format!("| {} |", cells.join(" | "))
    };
    out.push_str(&line(header));
    out.push('\n');
    out.push_str(&format!("|{}", " --- |".repeat(header.len())));
    for row in rows {
        out.push('\n');
        out.push_str(&line(row));
    }
}

/// Changes per day as a table with a bar of `█` per day, scaled to the busiest day.
fn timeline(days: &[(chrono::NaiveDate, usize, usize)], out: &mut String) {
    const WIDTH: usize = 40;
    let most = days.iter().map(|(_, c, s)| c + s).max().unwrap_or(0).max(1);
    let rows: Vec<Vec<String>> = days
        .iter()
        .map(|(day, config, state)| {
            let bar = ((config + state) * WIDTH).div_ceil(most);
            vec![
                day.to_string(),
                config.to_string(),
                state.to_string(),
                "█".repeat(bar),
            ]
        })
        .collect();
    let header: Vec<String> = ["day", "config", "state", "changes"]
        .iter()
        .map(|h| (*h).to_owned())
        .collect();
    table(&header, &rows, out);
}

/// `text` on one line, with Markdown's syntax characters escaped. A backslash escapes any
/// ASCII punctuation in CommonMark; these are the ones that can start or end syntax inside a
/// line or a table cell, and a list marker at the start (`-`, `+`, `1.`, `1)` then a space).
pub fn escape(text: &str) -> String {
    let line = one_line(text);
    let mut out = String::with_capacity(line.len() + 8);
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    let spaced = |at: usize| line.chars().nth(at + 1).is_none_or(|c| c == ' ');
    for (i, c) in line.chars().enumerate() {
        let marker = (i == 0 && matches!(c, '-' | '+'))
            || (i == digits && digits > 0 && matches!(c, '.' | ')'));
        if (marker && spaced(i)) || "\\`*_[]<>|~&!#".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn syntax_characters_are_escaped_and_text_stays_on_one_line() {
        assert_eq!(escape("a|b"), "a\\|b");
        assert_eq!(escape("x\ny"), "x\\\\ny");
        assert_eq!(escape("`code` <b>"), "\\`code\\` \\<b\\>");
        assert_eq!(escape("- item"), "\\- item");
        assert_eq!(escape("12. x"), "12\\. x");
        assert_eq!(escape("a-b 1.5"), "a-b 1.5");
        assert_eq!(escape("192.168.0.1 -x"), "192.168.0.1 -x");
        assert_eq!(escape("[x](http://e)"), "\\[x\\](http://e)");
    }
}
