//! Text shown to people (terminals, logs, cron mail) that may carry what a server sent.

/// Text for one line a person reads (a table cell, an error): control characters, which a
/// server or an id could use to forge lines or drive the terminal (ESC sequences), are shown
/// escaped (`\n`, `\u{1b}`), and so are the `hidden` characters that reorder or hide text
/// (`\u{202e}`); everything else as it is. Strings as the database holds them are shown as
/// sent (`crate::json::lossy`): a NUL as `\u{0}`.
pub fn one_line(text: &str) -> String {
    // Most text is printable ASCII, which is shown as it is: one copy (reports print millions).
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for c in crate::json::lossy(text).chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else if hidden(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters a terminal does not show as themselves, so that one id could pass for another:
/// the bidirectional controls, which reorder what follows them (U+202E shows `1-npv` for
/// `vpn-1`); the line and paragraph separators, which some terminals and mail readers break
/// lines at; and the invisible ones with no part in a name (zero width space, word joiner and
/// invisible operators, byte order mark, soft hyphen, tags, interlinear annotation). The zero
/// width joiner and non-joiner (U+200C, U+200D) stay: Persian and Indic names and emoji need
/// them to read right, and they reorder nothing.
fn hidden(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' // arabic letter mark
            | '\u{200e}'..='\u{200f}' // left-to-right and right-to-left marks
            | '\u{202a}'..='\u{202e}' // embeddings and overrides
            | '\u{2066}'..='\u{2069}' // isolates
            | '\u{2028}'..='\u{2029}' // line and paragraph separators
            | '\u{00ad}' // soft hyphen
            | '\u{180e}' // mongolian vowel separator
            | '\u{200b}' // zero width space
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{206a}'..='\u{206f}' // deprecated format characters
            | '\u{feff}' // zero width no-break space (byte order mark)
            | '\u{fff9}'..='\u{fffb}' // interlinear annotation
            | '\u{e0000}'..='\u{e007f}' // tags
    )
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
    causes_shown(error, |_| None)
}

/// [`causes`], where `own` may word a cause itself (a library's error, told in fewer words):
/// its text then stands for that cause and the causes below it. Secrets are hidden
/// ([`redact_secrets`]).
pub fn causes_shown(
    error: &(dyn std::error::Error + 'static),
    own: impl Fn(&(dyn std::error::Error + 'static)) -> Option<String>,
) -> String {
    let mut shown: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        let worded = own(cause);
        let last = worded.is_some();
        let text = worded.unwrap_or_else(|| cause.to_string());
        if !text.is_empty() && !shown.iter().any(|s| s.contains(&text)) {
            shown.push(text);
        }
        next = if last { None } else { cause.source() };
    }
    redact_secrets(&shown.join(": "))
}

/// The secrets this process knows (a database URL's password, ...), hidden wherever they
/// appear in a line it prints ([`redact_secrets`]).
static SECRETS: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Remembers `secret`, so that no log line or error shows it. Values shorter than 4
/// characters are left alone: hiding them would garble the lines instead.
pub fn register_secret(secret: &str) {
    if secret.chars().count() < 4 {
        return;
    }
    let mut secrets = SECRETS
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !secrets.iter().any(|s| s == secret) {
        secrets.push(secret.to_owned());
    }
}

/// Text from a library (its log line or error) with what may be a secret shown as `***`: every
/// secret registered ([`register_secret`]), the password of any `scheme://user:password@`,
/// and the value of a connect parameter sqlx does not know (a `PASSWORD=` it reads
/// case-sensitively, a misspelt `pasword=`), which it logs as it is.
pub fn redact_secrets(text: &str) -> String {
    let mut out = redact_userinfo(text);
    {
        let secrets = SECRETS
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
    }
    if out.contains("unrecognized connect parameter") {
        out = redact_after(&out, "value=", |c| c.is_whitespace());
        out = redact_after(&out, "\"value\":\"", |c| c == '"');
    }
    out
}

/// `text` with what follows each `marker`, up to a character `end` accepts, shown as `***`.
fn redact_after(text: &str, marker: &str, end: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        let (head, tail) = rest.split_at(at + marker.len());
        out.push_str(head);
        let value_end = tail.find(&end).unwrap_or(tail.len());
        if value_end > 0 {
            out.push_str("***");
        }
        rest = &tail[value_end..];
    }
    out.push_str(rest);
    out
}

/// `text` with the password of every `scheme://user:password@host` shown as `***`.
fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        // The authority ends where a path, query, fragment or the surrounding text begins;
        // its last `@` ends the user information.
        let authority_end = tail
            .find(|c: char| c.is_whitespace() || "/?#\"'`<>".contains(c))
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority
            .rfind('@')
            .and_then(|a| Some((authority[..a].find(':')?, a)))
        {
            Some((colon, a)) => {
                out.push_str(&tail[..=colon]);
                out.push_str("***");
                out.push_str(&tail[a..authority_end]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

/// The 1-based line and column (in characters) of byte `at` of `text`.
pub fn line_and_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |n| n + 1);
    (line, before[start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::{causes, one_line, redact_secrets, register_secret, start};

    #[test]
    fn secrets_in_library_text_are_hidden() {
        assert_eq!(
            redact_secrets("at postgres://u:s3cr:et@h:5/db?x=1 and http://h/p and a://@b"),
            "at postgres://u:***@h:5/db?x=1 and http://h/p and a://@b"
        );
        let sqlx = "WARN sqlx_postgres::options::parse: ignoring unrecognized connect parameter \
                    key=PASSWORD value=SECRETD4";
        assert!(redact_secrets(sqlx).ends_with("key=PASSWORD value=***"));
        let json = r#"{"message":"ignoring unrecognized connect parameter","value":"S3\"x"}"#;
        assert!(
            !redact_secrets(json).contains("S3"),
            "{}",
            redact_secrets(json)
        );
        register_secret("registered-secret-42");
        assert_eq!(
            redact_secrets("PgConnectOptions { password: Some(\"registered-secret-42\") }"),
            "PgConnectOptions { password: Some(\"***\") }"
        );
        assert_eq!(redact_secrets("key=a value=b"), "key=a value=b");
    }

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

    #[test]
    fn characters_that_reorder_or_hide_text_are_shown() {
        assert_eq!(one_line("vpn-\u{202e}1-gp"), "vpn-\\u{202e}1-gp");
        for c in [
            '\u{61c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{2066}', '\u{2069}',
        ] {
            assert_eq!(one_line(&c.to_string()), c.escape_unicode().to_string());
        }
        for c in ['\u{200b}', '\u{2028}', '\u{2029}', '\u{feff}', '\u{e0041}'] {
            assert_eq!(one_line(&c.to_string()), c.escape_unicode().to_string());
        }
        let kept = "\u{645}\u{6cc}\u{200c}\u{62e}\u{648}\u{627}\u{647}\u{645} 👩\u{200d}💻 Zürich";
        assert_eq!(
            one_line(kept),
            kept,
            "joiners shape names and reorder nothing"
        );
    }
}
