//! Text shown to people (terminals, logs, cron mail) that may carry what a server sent.

/// Text for one line a person reads (a table cell, an error): control characters, which a
/// server or an id could use to forge lines or drive the terminal (ESC sequences), are shown
/// escaped (`\n`, `\u{1b}`), everything else as it is. Strings as the database holds them
/// are shown as sent (`crate::json::lossy`): a NUL as `\u{0}`.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in crate::json::lossy(text).chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(
            one_line("a\nb\r\u{1b}[31mc\u{0}"),
            "a\\nb\\r\\u{1b}[31mc\\u{0}"
        );
        assert_eq!(one_line("Zürich – ok"), "Zürich – ok");
        assert_eq!(one_line("a\u{FDD0}0000b"), "a\\u{0}b", "a NUL as stored");
    }
}
