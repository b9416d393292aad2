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

/// The start of a long text a server sent (an id), for one line: at most 64 characters as
/// [`one_line`] shows them, then how long the whole is.
pub fn start(text: &str) -> String {
    const SHOWN: usize = 64;
    let chars = text.chars().count();
    if chars <= SHOWN {
        return one_line(text);
    }
    let head: String = text.chars().take(SHOWN).collect();
    format!("{}... ({chars} characters)", one_line(&head))
}

/// An error and its causes on one line, each cause once: libraries often repeat their
/// source's text in their own message ("HTTP 429: ...: HTTP 429: ..."), so a cause whose text
/// an earlier one already holds is left out.
pub fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut shown: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        let text = cause.to_string();
        if !text.is_empty() && !shown.iter().any(|s| s.contains(&text)) {
            shown.push(text);
        }
        next = cause.source();
    }
    shown.join(": ")
}

#[cfg(test)]
mod tests {
    use super::{causes, one_line, start};

    #[test]
    fn a_long_id_is_shown_by_its_start_and_length() {
        assert_eq!(start("vpn-1"), "vpn-1");
        let long = format!("\u{1b}{}", "x".repeat(9_999));
        let shown = start(&long);
        assert_eq!(
            shown,
            format!("\\u{{1b}}{}... (10000 characters)", "x".repeat(63))
        );
    }

    #[test]
    fn each_cause_is_shown_once() {
        let inner = std::io::Error::other("(code: 5) database is locked");
        let middle = anyhow::Error::new(inner)
            .context("error returned from database: (code: 5) database is locked");
        let outer = middle.context("database migration failed");
        let error: &(dyn std::error::Error + 'static) = outer.as_ref();
        assert_eq!(
            causes(error),
            "database migration failed: error returned from database: (code: 5) database is locked"
        );
    }

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
