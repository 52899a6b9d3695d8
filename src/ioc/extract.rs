//! IOC extraction from free text (reports, articles): finds defanged and
//! plain indicators in prose, tables and code blocks (Markdown, AsciiDoc,
//! text rendered from HTML) and drops the usual false positives.
//!
//! Issue #14 item 1. Candidates are the maximal runs of characters that are
//! not whitespace nor a cell/quote delimiter (`| , ; " ' < > ` * \``), split
//! again at Markdown link joints (`](`). Each candidate is refanged and
//! normalized by [`detect`](super::detect) (the same rules as every
//! importer), after trimming the prose punctuation around it. Dropped:
//! - "domains" whose last label is a common file extension (`invoice.exe`,
//!   `readme.md`, `Node.js`) or shorter than two letters (`e.g`, `i.e`);
//! - dotted-quad "IPs" written as versions (`v1.2.3.4`, or after the words
//!   `version`, `ver`, `build`, `release`);
//! - the publisher's own domains and the allow-list (a domain entry covers
//!   its subdomains and the hosts of URLs and emails).

use super::{detect, IocType, Normalized};

/// What the caller knows about the text's context.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Domains of the publisher (the article's link host, the feed's host):
    /// never extracted, nor their subdomains, nor URLs/emails on them.
    pub publisher_domains: Vec<String>,
    /// Values never extracted (config `[articles] allow_list`): exact
    /// normalized values or domains (a domain also covers its subdomains).
    pub allow_list: Vec<String>,
}

/// One IOC found in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub ioc: Normalized,
    /// Byte offset of the first occurrence in the input text.
    pub offset: usize,
}

/// Last labels that name file types far more often than top-level domains
/// in reports. Real TLDs among them (`zip`, `mov`, `sh`, `py`) are lost as
/// bare domains; as URL hosts they are still extracted.
const FILE_EXTENSIONS: &[&str] = &[
    "exe", "dll", "sys", "scr", "com_", "bat", "cmd", "ps1", "psm1", "vbs", "vbe", "js", "jse",
    "wsf", "hta", "lnk", "msi", "jar", "apk", "dex", "elf", "bin", "dat", "tmp", "log", "ini",
    "cfg", "conf", "xml", "json", "yml", "yaml", "html", "htm", "php", "asp", "aspx", "jsp", "txt",
    "md", "adoc", "pdf", "doc", "docx", "docm", "xls", "xlsx", "xlsm", "ppt", "pptx", "rtf", "odt",
    "zip", "rar", "7z", "gz", "tar", "tgz", "iso", "img", "vhd", "cab", "py", "pyc", "sh", "pl",
    "rb", "go", "rs", "c", "h", "cpp", "cs", "java", "class", "so", "dylib", "ko", "png", "jpg",
    "jpeg", "gif", "bmp", "ico", "svg", "mp3", "mp4", "mov", "avi", "db", "sqlite", "csv", "pem",
    "crt", "key", "pfx", "p12", "plist", "dmg", "pkg", "deb", "rpm", "lua", "ts", "css", "map",
    "bak", "old", "chm", "inf", "reg", "drv", "ocx", "cpl", "efi",
];

/// Words after which a dotted quad is a version, not an address.
const VERSION_WORDS: &[&str] = &["version", "ver", "ver.", "build", "release", "v"];

fn is_delimiter(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '|' | ',' | ';' | '"' | '\'' | '<' | '>' | '`' | '*' | '\0'
        )
}

/// Punctuation trimmed around a candidate (after refanging, so `[.]` inside
/// a value is already a dot).
fn trim_prose(s: &str) -> &str {
    // `+` too: AsciiDoc passthrough (`++value++`).
    let s = s.trim_start_matches(['(', '[', '{', ':', '=', '!', '?', '.', '-', '+']);
    let mut s = s.trim_end_matches([')', ']', '}', ':', '.', '!', '?', '-', '=', '+']);
    // Keep a closing bracket that belongs to the value (IPv6 URL hosts).
    if s.ends_with('[') {
        s = &s[..s.len() - 1];
    }
    s
}

/// True when `host` is `domain` or a subdomain of it.
fn under(host: &str, domain: &str) -> bool {
    host == domain
        || (host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
}

/// The host of a normalized URL (`scheme://[user@]host[:port]/...`) or the
/// domain of an email.
fn host_of(n: &Normalized) -> Option<&str> {
    match n.ioc_type {
        IocType::Domain => Some(&n.value),
        IocType::Email => n.value.rsplit_once('@').map(|(_, d)| d),
        IocType::Url => {
            let rest = n.value.split_once("://")?.1;
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let auth = &rest[..end];
            let host = auth.rsplit_once('@').map(|(_, h)| h).unwrap_or(auth);
            if host.starts_with('[') {
                return Some(host);
            }
            Some(host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host))
        }
        _ => None,
    }
}

fn excluded(n: &Normalized, opts: &ExtractOptions) -> bool {
    let host = host_of(n);
    let hit = |entry: &String| {
        let e = entry.trim().trim_end_matches('.').to_ascii_lowercase();
        !e.is_empty() && (n.value.eq_ignore_ascii_case(&e) || host.is_some_and(|h| under(h, &e)))
    };
    opts.allow_list.iter().any(hit)
        || opts
            .publisher_domains
            .iter()
            .any(|d| host.is_some_and(|h| under(h, &d.trim().to_ascii_lowercase())))
}

/// Top-level names outside the public suffix list that reports still use
/// for real or documentation hosts (RFC 2606/6761 names, Tor, Namecoin,
/// internal zones).
const EXTRA_TLDS: &[&str] = &[
    "example",
    "test",
    "invalid",
    "localhost",
    "onion",
    "local",
    "lan",
    "internal",
    "arpa",
    "bit",
    "i2p",
    "corp",
    "home",
];

/// A domain that is really a file name, a detection name
/// (`Win32/Agent.SVE`) or a prose abbreviation: its last label is shorter
/// than two letters, a common file extension, or no top-level domain of
/// the public suffix list (nor one of [`EXTRA_TLDS`]).
fn fake_domain(d: &str) -> bool {
    let tld = d.rsplit('.').next().unwrap_or("");
    if tld.len() < 2 || FILE_EXTENSIONS.contains(&tld) {
        return true;
    }
    if EXTRA_TLDS.contains(&tld) {
        return false;
    }
    let name_like = tld.starts_with("xn--") || tld.bytes().all(|b| b.is_ascii_alphabetic());
    !name_like || !psl::suffix(tld.as_bytes()).is_some_and(|s| s.is_known())
}

/// A mixed-case token whose last label is written in capitals
/// (`Glupteba.AY`, `Agent.CC`): the style of malware detection names, not
/// of host names.
fn detection_style(t: &str) -> bool {
    let host = t.split(['/', ':', '?', '#']).next().unwrap_or(t);
    let last = host.rsplit('.').next().unwrap_or("");
    !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_uppercase())
        && host.bytes().any(|b| b.is_ascii_lowercase())
}

/// `host:port` → `host` when the port is a number (`192.0.2.7:443`).
fn strip_port(t: &str) -> Option<&str> {
    let (h, p) = t.rsplit_once(':')?;
    (!h.contains(':') && !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
        .then_some(h)
}

/// Extracts the distinct IOCs of `text` in order of first occurrence.
/// Distinct means same type and normalized value; `offset` is that of the
/// first candidate that produced it. Never panics on any input; linear in
/// the text length.
pub fn extract(text: &str, opts: &ExtractOptions) -> Vec<Extracted> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut prev_word = String::new();
    let mut start: Option<usize> = None;
    let mut push = |tok: &str, at: usize, prev_word: &mut String| {
        for (k, piece) in split_links(tok) {
            consider(piece, at + k, prev_word, opts, &mut seen, &mut out);
        }
        *prev_word = tok.to_ascii_lowercase();
    };
    for (i, c) in text.char_indices() {
        if is_delimiter(c) {
            if let Some(s) = start.take() {
                push(&text[s..i], s, &mut prev_word);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        push(&text[s..], s, &mut prev_word);
    }
    out
}

/// Splits `[label](target)` into its parts (with their byte offsets).
fn split_links(tok: &str) -> Vec<(usize, &str)> {
    let mut parts = Vec::new();
    let mut from = 0;
    while let Some(j) = tok[from..].find("](") {
        parts.push((from, &tok[from..from + j]));
        from += j + 2;
    }
    parts.push((from, &tok[from..]));
    parts
}

fn consider(
    piece: &str,
    at: usize,
    prev_word: &str,
    opts: &ExtractOptions,
    seen: &mut std::collections::HashSet<(IocType, String)>,
    out: &mut Vec<Extracted>,
) {
    let piece = cut_label(piece);
    if piece.len() < 4 || piece.len() > super::normalize::MAX_VALUE_LEN {
        return;
    }
    let refanged = super::refang::refang(piece);
    let t = trim_prose(&refanged);
    if t.len() < 4 {
        return;
    }
    let (t, n) = match detect(t) {
        Ok(n) => (t, n),
        Err(_) => match strip_port(t).and_then(|h| detect(h).ok().map(|n| (h, n))) {
            Some((h, n)) if matches!(n.ioc_type, IocType::Ipv4 | IocType::Domain) => (h, n),
            _ => return,
        },
    };
    let drop = match n.ioc_type {
        IocType::Domain => fake_domain(&n.value) || detection_style(t),
        IocType::Ipv4 => VERSION_WORDS.contains(&prev_word.trim_end_matches(':')),
        IocType::Url => {
            // A scheme-less `host/path` is only a URL when the host is one.
            !t.contains("://") && host_of(&n).is_some_and(fake_domain_or_ipless)
        }
        IocType::Email => host_of(&n).is_some_and(fake_domain),
        _ => false,
    };
    if drop || excluded(&n, opts) {
        return;
    }
    if seen.insert((n.ioc_type, n.value.clone())) {
        out.push(Extracted { ioc: n, offset: at });
    }
}

/// Bracket contents that are defanging, not a label: `[.]`, `[dot]`,
/// `[at]`, `[@]`, `[:]`, `[://]`, `[/]`.
fn is_defang_marker(inner: &str) -> bool {
    matches!(
        inner.to_ascii_lowercase().as_str(),
        "." | "dot" | "d0t" | "at" | "@" | ":" | "://" | "/" | "//" | "," | "_"
    )
}

/// Cuts an AsciiDoc link label off a value: `https://x.example/a[Label]`
/// → `https://x.example/a`. Defanging brackets (`evil[.]example`) and an
/// IPv6 URL host (`http://[2001:db8::1]/`) are kept; a leading bracket is
/// left to the prose trimming.
fn cut_label(p: &str) -> &str {
    let mut from = 0;
    while let Some(i) = p[from..].find('[') {
        let at = from + i;
        let close = p[at + 1..].find(']').map(|j| at + 1 + j);
        let inner = &p[at + 1..close.unwrap_or(p.len())];
        let ipv6_host = p[..at].ends_with("://");
        match close {
            Some(c) if is_defang_marker(inner) || ipv6_host => from = c + 1,
            None if ipv6_host => return p,
            _ if at == 0 => from = at + 1,
            _ => return &p[..at],
        }
        if from >= p.len() {
            break;
        }
    }
    p
}

fn fake_domain_or_ipless(h: &str) -> bool {
    h.parse::<std::net::Ipv4Addr>().is_err() && !h.starts_with('[') && fake_domain(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str, opts: &ExtractOptions) -> Vec<(IocType, String)> {
        extract(text, opts)
            .into_iter()
            .map(|e| (e.ioc.ioc_type, e.ioc.value))
            .collect()
    }

    fn has(v: &[(IocType, String)], t: IocType, s: &str) -> bool {
        v.iter().any(|(a, b)| *a == t && b == s)
    }

    #[test]
    fn defanged_forms() {
        let text = "C&C at hxxps://evil[.]example/gate.php, fallback 198.51.100[.]7 and \
                    bad(.)example.org; mail to ops[at]evil[.]example (see [x](hxxp://a[.]example/p)).";
        let v = values(text, &ExtractOptions::default());
        assert!(
            has(&v, IocType::Url, "https://evil.example/gate.php"),
            "{v:?}"
        );
        assert!(has(&v, IocType::Ipv4, "198.51.100.7"), "{v:?}");
        assert!(has(&v, IocType::Domain, "bad.example.org"), "{v:?}");
        assert!(has(&v, IocType::Email, "ops@evil.example"), "{v:?}");
        assert!(has(&v, IocType::Url, "http://a.example/p"), "{v:?}");
    }

    #[test]
    fn hashes_cves_attack_ids() {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let sha1 = "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709";
        let sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let text = format!(
            "|{md5}|\n|{sha1}|\n[source]\n----\n{sha256}\n----\nExploits CVE-2021-44228 via T1059 and T1059.001."
        );
        let v = values(&text, &ExtractOptions::default());
        assert!(has(&v, IocType::Md5, md5));
        assert!(has(&v, IocType::Sha1, &sha1.to_ascii_lowercase()));
        assert!(has(&v, IocType::Sha256, sha256));
        assert!(v
            .iter()
            .any(|(t, s)| *t == IocType::Cve && s.contains("2021-44228")));
        assert!(
            v.iter()
                .any(|(t, s)| *t == IocType::MitreAttack && s == "T1059"),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|(t, s)| *t == IocType::MitreAttack && s == "T1059.001"),
            "{v:?}"
        );
    }

    #[test]
    fn false_positives_dropped() {
        let text = "It drops invoice.exe and readme.md, uses Node.js, e.g. version 1.2.3.4 \
                    or v2.0.0.1; build 10.0.19041.1 too.";
        let v = values(text, &ExtractOptions::default());
        assert!(v.is_empty(), "{v:?}");
        // Detection names and unknown TLDs are no domains; real and
        // reserved TLDs are, and `host:port` gives the host.
        let text = "ESET detects Win32/Glupteba.AY, Agent.SVE and MSIL/Spy.CC; \
                    C2 at evil-cdn.top, c2.example, ++relay.onion++ and 192.0.2.7:443, not foo.zzzq.";
        let v = values(text, &ExtractOptions::default());
        assert_eq!(
            v,
            vec![
                (IocType::Domain, "evil-cdn.top".to_string()),
                (IocType::Domain, "c2.example".to_string()),
                (IocType::Domain, "relay.onion".to_string()),
                (IocType::Ipv4, "192.0.2.7".to_string()),
            ]
        );
    }

    #[test]
    fn publisher_and_allow_list() {
        let text = "Read https://www.welivesecurity.com/x and blog.eset.com; C&C evil.example, \
                    sub.good.example, 8.8.8.8";
        let opts = ExtractOptions {
            publisher_domains: vec!["welivesecurity.com".into(), "eset.com".into()],
            allow_list: vec!["good.example".into(), "8.8.8.8".into()],
        };
        let v = values(text, &opts);
        assert_eq!(v, vec![(IocType::Domain, "evil.example".to_string())]);
    }

    #[test]
    fn offsets_and_dedup() {
        let text = "x evil.example y EVIL.example";
        let e = extract(text, &ExtractOptions::default());
        assert_eq!(e.len(), 1);
        assert_eq!(&text[e[0].offset..e[0].offset + 12], "evil.example");
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "",
            "[",
            "](",
            "](](",
            "é.ü",
            "\u{feff}[.]",
            "a@b@c",
            "hxxp://[",
            "[.][.][.]",
        ] {
            let _ = extract(s, &ExtractOptions::default());
        }
        let long = "a.".repeat(5000);
        let _ = extract(&long, &ExtractOptions::default());
    }
}
