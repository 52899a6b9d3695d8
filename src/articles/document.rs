//! Report documents → one article each: HTML, Markdown, AsciiDoc and
//! plain text.
//!
//! | Kind | Title | Link | Published |
//! |---|---|---|---|
//! | HTML | `<title>`, else the first `<h1>` | `<link rel="canonical">`, else `og:url` | `article:published_time`, else the first `<time datetime>` |
//! | Markdown | the first `# ` heading (front matter `title:`) | front matter `link:`/`url:` | front matter `date:` |
//! | AsciiDoc | the document title line `= ` | — | `:revdate:` |
//! | text | the first non-empty line | — | — |
//!
//! Without a date the article's publication time is its first import.
//! HTML is rendered to text by [`html_to_text`] (scripts, styles and
//! comments dropped, block elements as line breaks, entities decoded).

use super::Article;
use crate::import::FileError;
use crate::ioc::extract::ExtractOptions;
use chrono::{DateTime, Utc};

/// A document kind, chosen from the file name or forced by `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Html,
    Markdown,
    AsciiDoc,
    Text,
}

impl Kind {
    /// By extension: `.html`/`.htm`, `.md`/`.markdown`, `.adoc`/`.asciidoc`
    /// /`.asc`; anything else (`.txt`) is text. A document that starts
    /// with `<` (after whitespace) is HTML whatever its name.
    pub fn of(file_name: &str, bytes: &[u8]) -> Kind {
        let name = file_name.to_ascii_lowercase();
        let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        match ext {
            "html" | "htm" | "xhtml" => Kind::Html,
            "md" | "markdown" => Kind::Markdown,
            "adoc" | "asciidoc" | "asc" => Kind::AsciiDoc,
            _ if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<') => Kind::Html,
            _ => Kind::Text,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Html => "html",
            Kind::Markdown => "markdown",
            Kind::AsciiDoc => "asciidoc",
            Kind::Text => "text",
        }
    }
}

/// True when the name says report document (`.html`, `.htm`, `.md`,
/// `.markdown`, `.adoc`, `.asciidoc`, or `*.report.txt`).
pub fn is_document_name(file_name: &str) -> bool {
    let n = file_name.to_ascii_lowercase();
    [
        ".html",
        ".htm",
        ".xhtml",
        ".md",
        ".markdown",
        ".adoc",
        ".asciidoc",
        ".report.txt",
    ]
    .iter()
    .any(|e| n.ends_with(e))
}

/// Parses one document into an article.
///
/// Errors: [`FileError::NotUtf8`] (documents must be UTF-8).
pub fn parse(
    bytes: &[u8],
    file_name: &str,
    source: &str,
    opts: &ExtractOptions,
) -> Result<Article, FileError> {
    let raw = std::str::from_utf8(bytes).map_err(|e| FileError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let raw = raw.trim_start_matches('\u{feff}');
    let kind = Kind::of(file_name, raw.as_bytes());
    let (title, link, date, text) = match kind {
        Kind::Html => html_doc(raw),
        Kind::Markdown => markdown_doc(raw),
        Kind::AsciiDoc => asciidoc_doc(raw),
        Kind::Text => (first_line(raw), None, None, raw.to_string()),
    };
    let title = if title.trim().is_empty() {
        file_name.to_string()
    } else {
        title
    };
    let key = format!("doc\0{source}\0{file_name}\0{title}");
    Ok(Article::build(
        &key,
        title,
        link,
        source.to_string(),
        date,
        None,
        Vec::new(),
        text,
        kind.as_str(),
        opts,
    ))
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

type Doc = (String, Option<String>, Option<DateTime<Utc>>, String);

fn markdown_doc(raw: &str) -> Doc {
    let (front, body) = front_matter(raw);
    let meta = |k: &str| {
        front.lines().find_map(|l| {
            let (a, b) = l.split_once(':')?;
            (a.trim().eq_ignore_ascii_case(k))
                .then(|| b.trim().trim_matches(['"', '\'']).to_string())
        })
    };
    let title = meta("title")
        .or_else(|| {
            body.lines()
                .find_map(|l| l.strip_prefix("# ").map(|t| t.trim().to_string()))
        })
        .unwrap_or_else(|| first_line(body));
    let link = meta("link").or_else(|| meta("url"));
    let date = meta("date").and_then(|d| super::feed::parse_date(&d));
    (title, link, date, body.to_string())
}

/// YAML front matter between `---` lines at the very top, and the rest.
fn front_matter(raw: &str) -> (&str, &str) {
    if let Some(rest) = raw.strip_prefix("---\n") {
        if let Some(end) = rest.find("\n---") {
            let after = &rest[end + 4..];
            return (&rest[..end], after.trim_start_matches(['-', '\r', '\n']));
        }
    }
    ("", raw)
}

fn asciidoc_doc(raw: &str) -> Doc {
    let title = raw
        .lines()
        .find_map(|l| l.strip_prefix("= ").map(|t| t.trim().to_string()))
        .unwrap_or_else(|| first_line(raw));
    let date = raw
        .lines()
        .find_map(|l| l.strip_prefix(":revdate:"))
        .and_then(|d| super::feed::parse_date(d.trim()));
    (title, None, date, raw.to_string())
}

fn html_doc(raw: &str) -> Doc {
    let lower = raw.to_ascii_lowercase();
    let element_text = |tag: &str| -> Option<String> {
        let open = lower.find(&format!("<{tag}"))?;
        let start = open + lower[open..].find('>')? + 1;
        let end = start + lower[start..].find(&format!("</{tag}"))?;
        Some(html_to_text(&raw[start..end]).trim().to_string()).filter(|t| !t.is_empty())
    };
    let title = element_text("title")
        .or_else(|| element_text("h1"))
        .unwrap_or_default();
    let mut link = None;
    let mut date = None;
    for tag in tags(raw) {
        let t = tag.to_ascii_lowercase();
        if t.starts_with("link") && attr_of(tag, "rel").as_deref() == Some("canonical") {
            link = link.or_else(|| attr_of(tag, "href"));
        } else if t.starts_with("meta") {
            let prop = attr_of(tag, "property").or_else(|| attr_of(tag, "name"));
            match prop.as_deref() {
                Some("og:url") => link = link.or_else(|| attr_of(tag, "content")),
                Some("article:published_time") | Some("date") => {
                    date = date.or_else(|| {
                        attr_of(tag, "content").and_then(|d| super::feed::parse_date(&d))
                    })
                }
                _ => {}
            }
        } else if t.starts_with("time") && date.is_none() {
            date = attr_of(tag, "datetime").and_then(|d| super::feed::parse_date(&d));
        }
    }
    let link = link.filter(|l| l.contains("://"));
    (title, link, date, html_to_text(raw))
}

/// The insides of the tags of an HTML document (`a href="…"`), in order.
fn tags(raw: &str) -> impl Iterator<Item = &str> {
    raw.split('<')
        .skip(1)
        .filter_map(|s| s.split_once('>').map(|(t, _)| t))
}

/// A tag attribute's value (quoted or bare), entities decoded.
fn attr_of(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace();
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let vstart = tag.len() - rest.len() + 1;
        let v = tag[vstart..].trim_start();
        let val = match v.chars().next() {
            Some(q @ ('"' | '\'')) => v[1..].split(q).next().unwrap_or(""),
            _ => v
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap_or(""),
        };
        return Some(decode_entities(val).trim().to_string()).filter(|s| !s.is_empty());
    }
    None
}

/// Elements whose content is not text.
const SKIPPED: &[&str] = &["script", "style", "noscript", "template", "svg", "head"];
/// Inline elements: no break around them (`<b>evil</b>[.]example` stays
/// one word).
const INLINE: &[&str] = &[
    "a", "b", "i", "em", "strong", "code", "span", "u", "font", "small", "sup", "sub", "mark",
    "kbd", "samp", "var", "abbr", "cite", "q", "s", "tt", "wbr",
];

/// Renders HTML to plain text: tags removed (block elements become line
/// breaks, table cells ` | `), `script`/`style`/`head` contents and
/// comments dropped, entities decoded. Linear in the input; never fails
/// (malformed markup is read as text).
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&decode_entities(&rest[..lt]));
        let after = &rest[lt + 1..];
        if let Some(c) = after.strip_prefix("!--") {
            rest = c.find("-->").map(|e| &c[e + 3..]).unwrap_or("");
            continue;
        }
        let Some(gt) = after.find('>') else {
            out.push_str(&decode_entities(&rest[lt..]));
            rest = "";
            break;
        };
        let tag = &after[..gt];
        rest = &after[gt + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() && !tag.starts_with('/') && !tag.starts_with('!') {
            // `a < b`: not a tag.
            out.push('<');
            rest = after;
            continue;
        }
        if SKIPPED.contains(&name.as_str()) && !tag.starts_with('/') && !tag.ends_with('/') {
            rest = match find_close(rest, &name) {
                Some(e) => {
                    let r = &rest[e..];
                    r.find('>').map(|g| &r[g + 1..]).unwrap_or("")
                }
                None => "",
            };
            continue;
        }
        if INLINE.contains(&name.as_str()) {
            continue;
        }
        match name.as_str() {
            "td" | "th" if !tag.starts_with('/') => out.push_str(" | "),
            "td" | "th" => {}
            _ => {
                if !out.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
    }
    out.push_str(&decode_entities(rest));
    out
}

/// Byte offset of the first `</name` (ASCII case-insensitive) in `s`,
/// scanning forward only, so a document of many skipped elements stays
/// linear.
fn find_close(s: &str, name: &str) -> Option<usize> {
    let b = s.as_bytes();
    let n = name.as_bytes();
    let mut from = 0;
    while let Some(i) = s[from..].find("</") {
        let at = from + i;
        let tail = &b[at + 2..];
        if tail.len() >= n.len() && tail[..n.len()].eq_ignore_ascii_case(n) {
            return Some(at);
        }
        from = at + 2;
    }
    None
}

/// Decodes `&amp;`-style named entities (the common ones) and numeric
/// references; unknown ones stay as written.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after
            .char_indices()
            .take(12)
            .find(|(_, c)| *c == ';')
            .map(|(j, _)| j);
        let Some(end) = end else {
            out.push('&');
            rest = after;
            continue;
        };
        let name = &after[..end];
        let ch = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" | "ensp" | "emsp" | "thinsp" => Some(' '),
            "ndash" => Some('–'),
            "mdash" => Some('—'),
            "hellip" => Some('…'),
            "lsquo" | "rsquo" => Some('\''),
            "ldquo" | "rdquo" => Some('"'),
            "zwj" | "zwnj" | "shy" => Some('\u{200b}'),
            n if n.starts_with("#x") || n.starts_with("#X") => u32::from_str_radix(&n[2..], 16)
                .ok()
                .and_then(char::from_u32),
            n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some('\u{200b}') => {}
            Some(c) => out.push(c),
            None => {
                out.push('&');
                out.push_str(name);
                out.push(';');
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::IocType;

    #[test]
    fn html_rendering() {
        let h = "<html><head><title>X &amp; Y</title><script>var a='evil.example';</script></head>\
                 <body><!-- c2.example --><p>C2: <code>bad[.]example</code></p><table><tr><td>1.2.3.4</td><td>x</td></tr></table>a &lt; b &#x41;&#65;</body></html>";
        let t = html_to_text(h);
        assert!(
            !t.contains("evil.example") && !t.contains("c2.example"),
            "{t}"
        );
        assert!(t.contains("C2: bad[.]example"), "{t}");
        assert!(t.contains(" | 1.2.3.4 | x"), "{t}");
        assert!(t.contains("a < b AA"), "{t}");
        assert_eq!(html_to_text("a < b and <"), "a < b and <");
    }

    #[test]
    fn html_document_metadata() {
        let h = r#"<html><head><title>Report</title><link rel="canonical" href="https://www.vendor.example/r/1">
<meta property="article:published_time" content="2026-05-04T03:02:01Z"></head>
<body><h1>Ignored</h1><p>hxxps://c2.bad[.]example/gate and https://www.vendor.example/contact</p></body></html>"#;
        let a = parse(h.as_bytes(), "r.html", "vendor", &ExtractOptions::default()).unwrap();
        assert_eq!(a.title, "Report");
        assert_eq!(a.kind, "html");
        assert_eq!(a.link.as_deref(), Some("https://www.vendor.example/r/1"));
        assert_eq!(a.published.to_rfc3339(), "2026-05-04T03:02:01+00:00");
        let v: Vec<_> = a
            .iocs
            .iter()
            .map(|i| (i.ioc_type, i.value.as_str()))
            .collect();
        assert_eq!(v, vec![(IocType::Url, "https://c2.bad.example/gate")]);
    }

    #[test]
    fn markdown_and_asciidoc_titles() {
        let md = "---\ntitle: \"MD report\"\ndate: 2026-01-02\n---\n# Heading\nC2 evil[.]example\n";
        let a = parse(md.as_bytes(), "x.md", "s", &ExtractOptions::default()).unwrap();
        assert_eq!(a.title, "MD report");
        assert_eq!(a.published.date_naive().to_string(), "2026-01-02");
        assert_eq!(a.iocs.len(), 1);
        let ad =
            "= Agrius IOCs\n\nSee https://www.welivesecurity.com[WeLiveSecurity] for 203.0.113.9\n";
        let b = parse(
            ad.as_bytes(),
            "README.adoc",
            "s",
            &ExtractOptions::default(),
        )
        .unwrap();
        assert_eq!(b.title, "Agrius IOCs");
        assert!(b.iocs.iter().any(|i| i.value == "203.0.113.9"));
        assert!(
            b.iocs.iter().all(|i| !i.value.contains('[')),
            "{:?}",
            b.iocs
        );
        let t = parse(
            b"\n  Plain title\nbody",
            "n.report.txt",
            "s",
            &Default::default(),
        )
        .unwrap();
        assert_eq!((t.title.as_str(), t.kind.as_str()), ("Plain title", "text"));
        assert!(matches!(
            parse(b"\xff\xfe", "x.md", "s", &Default::default()),
            Err(FileError::NotUtf8 { .. })
        ));
    }
}
