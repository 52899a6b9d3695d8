//! What the Suricata ([`super::suricata`]) and Snort ([`super::snort`])
//! exports share: which rules an IOC gets, their `sid`, `rev`, `msg`,
//! `reference`, `classtype` and `metadata`, and the escaping of `content`
//! strings. The two dialects differ only in the syntax of the header and of
//! the detection options, which each supplies through [`Dialect`]
//! (README, "Suricata and Snort rules"; docs/design.md, "IDS rules").
//!
//! Rules per IOC (the type's [`IdsKind`] in the shared mapping):
//!
//! | kind | variants (one rule each) |
//! |---|---|
//! | ipv4, ipv6 | `ip-dst` (traffic to the IP), `ip-src` (traffic from it) |
//! | domain | `dns` (DNS query), `tls` (TLS SNI), `http` (HTTP Host) |
//! | url | `url` (HTTP Host + URI) |
//!
//! Hashes, email addresses, CVE and ATT&CK ids match no packet field and get
//! no rule (they are counted as skipped, not an error).
//!
//! **sid**: `sid_base + h mod SID_SPAN`, with `h` the first 8 bytes of
//! UUIDv5(IOC id, `"<variant>"` or `"<variant>#<n>"`), so the same IOC and
//! variant get the same sid in every export, whatever else is exported.
//! When two rules of one export land on the same sid, the later one (in
//! export order, which is the store's time order) retries with `#1`, `#2`,
//! ... until a free sid is found: deterministic for the same data.
//!
//! **rev**: the IOC's `modified` time in whole seconds since
//! 2020-01-01T00:00:00Z (at least 1). It is equal in two exports of
//! unchanged data and grows with every content change the store records
//! (a new confidence, TLP, source, tag, first_seen), with a revival of an
//! expired IOC and with a `last_seen` moved by half its lifetime
//! (docs/store.md, "Expiry is computed, not stored"); a re-sighting that
//! only moves `last_seen` a little is patched in place and keeps the rev
//! (the `last_seen` in `metadata` still shows it). Changes less than a
//! second apart share a rev; a clock set back can lower it. The u32 lasts
//! until 2156.

use super::mapping::{self, mapping, IdsKind};
use crate::ioc::Indicator;
use chrono::{DateTime, TimeZone, Utc};
use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::{self, Write};
use uuid::Uuid;

/// `Content-Type` of both rule exports.
pub const CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// Default `[rules] sid_base`: sids 1,000,000,000 to 1,099,999,999, far
/// from the Talos/GPL (below 1,000,000; local rules from 1,000,000) and
/// Emerging Threats (2,000,000 to 2,999,999) ranges.
pub const DEFAULT_SID_BASE: u32 = 1_000_000_000;

/// Width of the sid range: sids are `sid_base` to `sid_base + SID_SPAN - 1`.
pub const SID_SPAN: u32 = 100_000_000;

/// Largest allowed `sid_base` (the range must fit a u32 sid).
pub const MAX_SID_BASE: u32 = u32::MAX - SID_SPAN;

/// Options of the Suricata and Snort exports.
#[derive(Debug, Clone)]
pub struct IdsOptions {
    /// First sid of the range (`[rules] sid_base`).
    pub sid_base: u32,
}

impl Default for IdsOptions {
    fn default() -> Self {
        IdsOptions {
            sid_base: DEFAULT_SID_BASE,
        }
    }
}

/// What one rule detects (the dialect turns it into header and options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detection {
    /// Any IP traffic to the address.
    IpDst(String),
    /// Any IP traffic from the address.
    IpSrc(String),
    /// A DNS query for the domain or a subdomain.
    DnsQuery(String),
    /// A TLS ClientHello whose SNI is the domain (Suricata: or a subdomain).
    TlsSni(String),
    /// An HTTP request whose Host is the domain (Suricata: or a subdomain).
    HttpHost(String),
    /// An HTTP request to `host` whose URI starts with `uri` (path and
    /// query, at least `/`).
    HttpUrl { host: String, uri: String },
}

impl Detection {
    /// The variant name used in the sid derivation and `msg`.
    pub fn variant(&self) -> &'static str {
        match self {
            Detection::IpDst(_) => "ip-dst",
            Detection::IpSrc(_) => "ip-src",
            Detection::DnsQuery(_) => "dns",
            Detection::TlsSni(_) => "tls",
            Detection::HttpHost(_) => "http",
            Detection::HttpUrl { .. } => "url",
        }
    }
}

/// One rule dialect: Suricata 5+ or Snort 2.9.
pub trait Dialect {
    /// The rule header (`alert dns any any -> any any`) and the detection
    /// options (`dns.query; content:"..."; nocase;`), each option ending in
    /// `;` and separated by a space. `None`: the dialect cannot express it.
    fn detect(&self, d: &Detection) -> Option<(String, String)>;
    /// The name in the file's header comment ("Suricata").
    fn name(&self) -> &'static str;
}

/// The types that get rules (ipv4, ipv6, domain, url): the `type` values the
/// rule endpoints accept.
pub fn rule_types() -> Vec<crate::ioc::IocType> {
    crate::ioc::IocType::ALL
        .into_iter()
        .filter(|t| mapping(*t).ids.is_some())
        .collect()
}

/// The detections of an IOC (empty for types without network rules).
pub fn detections(i: &Indicator) -> Vec<Detection> {
    let v = i.value.clone();
    match mapping(i.ioc_type).ids {
        None => Vec::new(),
        Some(IdsKind::Ip) => vec![Detection::IpDst(v.clone()), Detection::IpSrc(v)],
        Some(IdsKind::Domain) => vec![
            Detection::DnsQuery(v.clone()),
            Detection::TlsSni(v.clone()),
            Detection::HttpHost(v),
        ],
        Some(IdsKind::Url) => match split_url(&v) {
            Some((host, uri)) => vec![Detection::HttpUrl { host, uri }],
            None => Vec::new(),
        },
    }
}

/// Splits `scheme://[user@]host[:port]/path?query#frag` into the host
/// (lowercase, without port and brackets) and the URI (path and query,
/// `/` when empty; the fragment is never sent). `None` without a host.
pub fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(b) = hostport.strip_prefix('[') {
        b.split_once(']').map(|(h, _)| h)?
    } else {
        hostport.split_once(':').map_or(hostport, |(h, _)| h)
    };
    if host.is_empty() {
        return None;
    }
    let tail = tail.split_once('#').map_or(tail, |(t, _)| t);
    let uri = if tail.starts_with('/') {
        tail.to_string()
    } else {
        format!("/{tail}")
    };
    Some((host.to_ascii_lowercase(), uri))
}

/// A rule `content` string (Suricata/Snort content syntax): printable ASCII
/// as is, except `;` `"` `\` `|`, which, like every control and non-ASCII
/// byte, go into `|hex|` blocks (`a;b` → `a|3B|b`; `é` → `|C3 A9|`).
pub fn content(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 8);
    let mut in_hex = false;
    for &b in bytes {
        let plain = (0x20..0x7f).contains(&b) && !matches!(b, b';' | b'"' | b'\\' | b'|');
        if plain {
            if in_hex {
                s.push('|');
                in_hex = false;
            }
            s.push(b as char);
        } else {
            if in_hex {
                s.push(' ');
            } else {
                s.push('|');
                in_hex = true;
            }
            let _ = write!(s, "{b:02X}");
        }
    }
    if in_hex {
        s.push('|');
    }
    s
}

/// Text safe inside `msg:"..."` and metadata: printable ASCII only, `;`
/// `"` `\` `|` and the rest replaced by `_`, at most `max` characters.
pub fn sanitize(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, ';' | '"' | '\\' | '|') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .take(max)
        .collect()
}

/// Derives sids: stable per (IOC id, variant), collisions within one export
/// resolved by retrying (see the module docs).
#[derive(Debug)]
pub struct SidAllocator {
    base: u32,
    used: HashSet<u32>,
}

impl SidAllocator {
    /// An allocator for one export, sids from `base` (clamped to
    /// [`MAX_SID_BASE`]).
    pub fn new(base: u32) -> Self {
        SidAllocator {
            base: base.min(MAX_SID_BASE),
            used: HashSet::new(),
        }
    }

    /// The sid of try `attempt` (0 first) for `id` and `variant`.
    pub fn candidate(base: u32, id: Uuid, variant: &str, attempt: u32) -> u32 {
        let name = if attempt == 0 {
            variant.to_string()
        } else {
            format!("{variant}#{attempt}")
        };
        let h = Uuid::new_v5(&id, name.as_bytes());
        let mut b = [0u8; 8];
        b.copy_from_slice(&h.as_bytes()[..8]);
        base.min(MAX_SID_BASE) + (u64::from_be_bytes(b) % u64::from(SID_SPAN)) as u32
    }

    /// The first free candidate sid for `id` and `variant`.
    pub fn assign(&mut self, id: Uuid, variant: &str) -> u32 {
        let mut attempt = 0;
        loop {
            let sid = Self::candidate(self.base, id, variant, attempt);
            if self.used.insert(sid) {
                return sid;
            }
            attempt += 1;
        }
    }
}

/// The rule revision of an IOC: seconds from 2020-01-01T00:00:00Z to its
/// `modified` time (the time of its last change, see docs/store.md), at
/// least 1; fits Suricata's and Snort's 32-bit `rev` until 2156.
pub fn rev(i: &Indicator) -> u32 {
    rev_at(i.modified)
}

fn rev_at(t: DateTime<Utc>) -> u32 {
    let epoch = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).single();
    let secs = epoch.map_or(0, |e| (t - e).num_seconds());
    secs.clamp(1, i64::from(u32::MAX)) as u32
}

/// `msg`: `iocd <type> <value> (<source>) <variant>`, sanitized, at most
/// 200 characters.
pub fn msg(i: &Indicator, d: &Detection) -> String {
    let source = i.sources.first().map_or("iocd", |s| s.name.as_str());
    sanitize(
        &format!(
            "iocd {} {} ({}) {}",
            i.ioc_type.as_str(),
            i.value,
            source,
            d.variant()
        ),
        200,
    )
}

/// `reference:url,<host/path>;` options for the http(s) references of the
/// IOC's sources (at most 3, in source order; others left out).
pub fn references(i: &Indicator) -> String {
    let mut out = String::new();
    let mut seen = HashSet::new();
    for r in i.sources.iter().filter_map(|s| s.reference.as_deref()) {
        let Some(rest) = r
            .strip_prefix("https://")
            .or_else(|| r.strip_prefix("http://"))
        else {
            continue;
        };
        let ok = !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, ';' | '"' | '\\' | '|' | ','));
        if ok && seen.insert(rest) {
            let _ = write!(out, " reference:url,{rest};");
            if seen.len() == 3 {
                break;
            }
        }
    }
    out
}

/// `metadata:` option: confidence, tlp, first_seen, last_seen
/// (`YYYY_MM_DD`, the Emerging Threats date style) and the IOC id.
pub fn metadata(i: &Indicator) -> String {
    let tlp = mapping::tlp(i, None).as_str().replace('+', "_");
    format!(
        "metadata:confidence {}, tlp {}, first_seen {}, last_seen {}, ioc_id {};",
        i.confidence,
        tlp,
        i.first_seen.format("%Y_%m_%d"),
        i.last_seen.format("%Y_%m_%d"),
        i.id
    )
}

/// Writes the rules of `items` in `dialect`, one per line after a `#`
/// comment header; returns the number of IOCs that got at least one rule.
pub fn write_rules<W, I, D>(w: &mut W, items: I, opts: &IdsOptions, dialect: &D) -> io::Result<u64>
where
    W: Write,
    I: IntoIterator,
    I::Item: Borrow<Indicator>,
    D: Dialect,
{
    writeln!(
        w,
        "# iocd {} rules (sids {}..{}); see README \"Suricata and Snort rules\"",
        dialect.name(),
        opts.sid_base.min(MAX_SID_BASE),
        opts.sid_base.min(MAX_SID_BASE) + (SID_SPAN - 1)
    )?;
    let mut sids = SidAllocator::new(opts.sid_base);
    let mut n = 0u64;
    let mut line = String::with_capacity(512);
    for item in items {
        let i = item.borrow();
        let mut wrote = false;
        for d in detections(i) {
            let Some((header, options)) = dialect.detect(&d) else {
                continue;
            };
            let sid = sids.assign(i.id, d.variant());
            line.clear();
            let _ = write!(
                line,
                "{header} (msg:\"{}\";{}{options}{} classtype:trojan-activity; sid:{sid}; rev:{}; {})",
                msg(i, &d),
                if options.is_empty() { "" } else { " " },
                references(i),
                rev(i),
                metadata(i)
            );
            line.push('\n');
            w.write_all(line.as_bytes())?;
            wrote = true;
        }
        n += u64::from(wrote);
    }
    Ok(n)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ioc::{indicator_id, IocType, Source};

    /// A test indicator of `t` and `value`, modified at `modified`.
    pub(crate) fn ioc(t: IocType, value: &str, modified: DateTime<Utc>) -> Indicator {
        Indicator {
            id: indicator_id(t, value),
            ioc_type: t,
            value: value.into(),
            first_seen: modified,
            last_seen: modified,
            added_at: modified,
            modified,
            confidence: 80,
            tlp: None,
            tags: vec![],
            sources: vec![Source::new(
                "eset",
                Some("https://github.com/eset/malware-ioc/x".into()),
            )],
            techniques: vec![],
            description: None,
            to_ids: true,
            reserved: false,
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn content_escapes_specials_and_non_ascii_as_hex() {
        assert_eq!(content(b"a;b\"c\\d|e"), "a|3B|b|22|c|5C|d|7C|e");
        assert_eq!(content("é/x".as_bytes()), "|C3 A9|/x");
        assert_eq!(content(b"\x00\x01"), "|00 01|");
        assert_eq!(content(b"plain/path?q=1"), "plain/path?q=1");
    }

    #[test]
    fn sanitize_keeps_msg_parseable() {
        assert_eq!(sanitize("a;b\"c|d\\é", 100), "a_b_c_d__");
        assert_eq!(sanitize("abcdef", 3), "abc");
    }

    #[test]
    fn sids_are_stable_in_range_and_distinct_per_variant() {
        let id = indicator_id(IocType::Domain, "evil.example");
        let a = SidAllocator::candidate(5_000, id, "dns", 0);
        assert_eq!(a, SidAllocator::candidate(5_000, id, "dns", 0));
        assert!((5_000..5_000 + SID_SPAN).contains(&a));
        assert_ne!(a, SidAllocator::candidate(5_000, id, "tls", 0));
        assert_ne!(a, SidAllocator::candidate(5_000, id, "dns", 1));
        let mut s = SidAllocator::new(5_000);
        assert_eq!(s.assign(id, "dns"), a);
        // The same key again collides and gets the next candidate.
        assert_eq!(
            s.assign(id, "dns"),
            SidAllocator::candidate(5_000, id, "dns", 1)
        );
    }

    #[test]
    fn rev_grows_with_modified_and_is_stable() {
        let a = ioc(IocType::Ipv4, "203.0.113.9", t("2026-05-01T10:00:00Z"));
        let mut b = a.clone();
        assert_eq!(rev(&a), rev(&b));
        b.modified = t("2026-05-01T10:05:00Z");
        assert_eq!(rev(&b), rev(&a) + 5 * 60);
        assert_eq!(rev_at(t("2019-01-01T00:00:00Z")), 1);
    }

    #[test]
    fn split_url_gives_host_and_uri() {
        assert_eq!(
            split_url("http://User@Evil.example:8080/a/b?x=1#frag"),
            Some(("evil.example".into(), "/a/b?x=1".into()))
        );
        assert_eq!(
            split_url("https://[2001:db8::1]"),
            Some(("2001:db8::1".into(), "/".into()))
        );
        assert_eq!(split_url("http:///x"), None);
    }

    #[test]
    fn references_keep_only_clean_http_urls() {
        let mut i = ioc(IocType::Domain, "a.example", t("2026-05-01T10:00:00Z"));
        i.sources
            .push(Source::new("x", Some("Report title".into())));
        i.sources
            .push(Source::new("y", Some("https://bad.example/a;b".into())));
        assert_eq!(
            references(&i),
            " reference:url,github.com/eset/malware-ioc/x;"
        );
    }

    #[test]
    fn hashes_get_no_rules() {
        let i = ioc(IocType::Sha256, &"a".repeat(64), t("2026-05-01T10:00:00Z"));
        assert!(detections(&i).is_empty());
    }
}
