//! The digest as one HTML page that loads nothing: inline CSS, the timeline as inline SVG
//! drawn here, an empty icon, and a Content-Security-Policy that forbids every fetch (so
//! even a tag that slipped through could load nothing). Every text is HTML-escaped.

use super::digest::Digest;
use super::document::{Block, blocks, title};
use crate::text::one_line;
use chrono::NaiveDate;
use std::fmt::Write as _;

/// Nothing may load: styles only from the page's own `<style>`, images only inline.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
                   base-uri 'none'; form-action 'none'";

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:80em;\
padding:0 1em;color:#1b1f24}h1{font-size:1.5em}h2{margin-top:2em;border-bottom:1px solid #ccd}\
h3{font-size:1.05em;margin-bottom:.3em}table{border-collapse:collapse;margin:.5em 0}\
th,td{border:1px solid #ccd;padding:.2em .5em;text-align:left;vertical-align:top}\
th{background:#eef;white-space:nowrap}td{overflow-wrap:anywhere;min-width:4em}\
.warn{background:#fff3cd;border-left:4px solid #e0a800;padding:.5em 1em}\
svg text{font:11px sans-serif;fill:#333}";

pub fn render(d: &Digest) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <link rel=\"icon\" href=\"data:,\">\n<title>{}</title>\n<style>{STYLE}</style>\n\
         </head>\n<body>\n",
        escape(&title(d))
    );
    for block in blocks(d) {
        match block {
            Block::Heading(level, text) => {
                let _ = writeln!(out, "<h{level}>{}</h{level}>", escape(&text));
            }
            Block::Paragraph(text) => {
                let _ = writeln!(out, "<p>{}</p>", escape(&text));
            }
            Block::Warning(text) => {
                let _ = writeln!(
                    out,
                    "<p class=\"warn\"><strong>Warning:</strong> {}</p>",
                    escape(&text)
                );
            }
            Block::Items(items) => {
                out.push_str("<ul>\n");
                for item in items {
                    let _ = writeln!(out, "<li>{}</li>", escape(&item));
                }
                out.push_str("</ul>\n");
            }
            Block::Table { header, rows } => table(&header, &rows, &mut out),
            Block::Timeline(days) => timeline(&days, &mut out),
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn table(header: &[String], rows: &[Vec<String>], out: &mut String) {
    if rows.is_empty() {
        out.push_str("<p>(none)</p>\n");
        return;
    }
    out.push_str("<table>\n<thead><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// Changes per day as bars, config below state, scaled to the busiest day; each bar's
/// title gives its day and counts.
fn timeline(days: &[(NaiveDate, usize, usize)], out: &mut String) {
    const HEIGHT: usize = 120;
    const LEFT: usize = 40;
    const TOP: usize = 10;
    let slot = (720 / days.len().max(1)).clamp(3, 40);
    let width = (LEFT + slot * days.len() + 10).max(400);
    let most = days.iter().map(|(_, c, s)| c + s).max().unwrap_or(0).max(1);
    let total: usize = days.iter().map(|(_, c, s)| c + s).sum();
    let scaled = |n: usize| n * HEIGHT / most;
    let base = TOP + HEIGHT;
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"timeline\" role=\"img\" \
         width=\"{width}\" height=\"{}\" viewBox=\"0 0 {width} {}\">\n\
         <title>{total} changes over {} days</title>\n\
         <line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#888\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{most}</text>\n\
         <text x=\"{}\" y=\"{base}\" text-anchor=\"end\">0</text>",
        base + 40,
        base + 40,
        days.len(),
        width - 10,
        LEFT - 4,
        TOP + 10,
        LEFT - 4,
    );
    for (i, (day, config, state)) in days.iter().enumerate() {
        let x = LEFT + i * slot + 1;
        let w = slot.saturating_sub(2).max(1);
        let (hc, hs) = (scaled(*config), scaled(config + state) - scaled(*config));
        let _ = writeln!(
            out,
            "<g class=\"day\"><title>{day}: {config} config, {state} state</title>\
             <rect x=\"{x}\" y=\"{}\" width=\"{w}\" height=\"{hc}\" fill=\"#3b6fb6\"/>\
             <rect x=\"{x}\" y=\"{}\" width=\"{w}\" height=\"{hs}\" fill=\"#e39b2d\"/></g>",
            base - hc,
            base - hc - hs,
        );
    }
    if let (Some((first, ..)), Some((last, ..))) = (days.first(), days.last()) {
        let _ = writeln!(
            out,
            "<text x=\"{LEFT}\" y=\"{}\">{first}</text>\n\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{last}</text>",
            base + 14,
            width - 10,
            base + 14,
        );
    }
    let _ = writeln!(
        out,
        "<rect x=\"{LEFT}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"#3b6fb6\"/>\
         <text x=\"{}\" y=\"{}\">config</text>\
         <rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"#e39b2d\"/>\
         <text x=\"{}\" y=\"{}\">state</text>\n</svg>",
        base + 24,
        LEFT + 14,
        base + 33,
        LEFT + 70,
        base + 24,
        LEFT + 84,
        base + 33,
    );
}

/// `text` on one line (control characters shown escaped), HTML-escaped for an element's
/// content or a quoted attribute.
pub fn escape(text: &str) -> String {
    let line = one_line(text);
    let mut out = String::with_capacity(line.len() + 8);
    for c in line.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{escape, timeline};
    use chrono::NaiveDate;

    #[test]
    fn the_timeline_has_a_bar_per_day_scaled_to_the_busiest() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let mut svg = String::new();
        timeline(&[(day(1), 3, 1), (day(2), 0, 0), (day(3), 1, 1)], &mut svg);
        assert_eq!(svg.matches("<g class=\"day\">").count(), 3, "{svg}");
        assert!(
            svg.contains("<title>2026-12-01: 3 config, 1 state</title>"),
            "{svg}"
        );
        // The busiest day (4) is the full 120 units: config 90, state 30.
        assert!(svg.contains("height=\"90\" fill=\"#3b6fb6\""), "{svg}");
        assert!(svg.contains("height=\"30\" fill=\"#e39b2d\""), "{svg}");
        assert!(svg.contains(">2026-12-01</text>") && svg.contains(">2026-12-03</text>"));
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{svg}"
        );
    }

    #[test]
    fn markup_in_text_stays_text() {
        assert_eq!(
            escape("<img src=x onerror='a'>&\"\n"),
            "&lt;img src=x onerror=&#39;a&#39;&gt;&amp;&quot;\\n"
        );
    }
}
