//! Suricata rules (Suricata 5 and later: sticky buffers `dns.query`,
//! `tls.sni`, `http.host`, `http.uri`, and `dotprefix`/`endswith`/
//! `startswith`) generated from IOCs. The rules' sid, rev, msg, reference
//! and metadata, and which IOCs get which rules, are shared with Snort in
//! [`super::ids_rules`]; this file holds only the Suricata syntax:
//!
//! | detection | rule |
//! |---|---|
//! | IP, to | `alert ip any any -> <ip> any` |
//! | IP, from | `alert ip <ip> any -> any any` |
//! | domain, DNS | `alert dns any any -> any any (dns.query; dotprefix; content:".<d>"; nocase; endswith;)` |
//! | domain, TLS | `alert tls any any -> any any (flow:established,to_server; tls.sni; dotprefix; content:".<d>"; nocase; endswith;)` |
//! | domain, HTTP | `alert http any any -> any any (flow:established,to_server; http.host; dotprefix; content:".<d>"; endswith;)` |
//! | URL | `alert http any any -> any any (flow:established,to_server; http.host; content:"<host>"; startswith; endswith; http.uri; content:"<uri>"; startswith;)` |
//!
//! `dotprefix` makes `.evil.example` match `evil.example` and its
//! subdomains, never `notevil.example`. `http.host` is normalized to
//! lowercase by Suricata, so its content (lowercase too) takes no `nocase`.
//! `http.uri` is Suricata's normalized URI: a URL stored with `%XX`
//! escapes of plain characters matches only the raw form's decoding.

use super::ids_rules::{content, write_rules, Detection, Dialect, IdsOptions};
use crate::ioc::Indicator;
use std::borrow::Borrow;
use std::io::{self, Write};

/// The Suricata dialect of [`write_rules`].
pub struct Suricata;

impl Dialect for Suricata {
    fn name(&self) -> &'static str {
        "Suricata"
    }

    fn detect(&self, d: &Detection) -> Option<(String, String)> {
        const FLOW: &str = "flow:established,to_server;";
        let suffix = |buffer: &str, d: &str, nocase: bool| {
            format!(
                "{buffer}; dotprefix; content:\".{}\";{} endswith;",
                content(d.as_bytes()),
                if nocase { " nocase;" } else { "" }
            )
        };
        Some(match d {
            Detection::IpDst(ip) => (format!("alert ip any any -> {ip} any"), String::new()),
            Detection::IpSrc(ip) => (format!("alert ip {ip} any -> any any"), String::new()),
            Detection::DnsQuery(dom) => (
                "alert dns any any -> any any".into(),
                suffix("dns.query", dom, true),
            ),
            Detection::TlsSni(dom) => (
                "alert tls any any -> any any".into(),
                format!("{FLOW} {}", suffix("tls.sni", dom, true)),
            ),
            Detection::HttpHost(dom) => (
                "alert http any any -> any any".into(),
                format!("{FLOW} {}", suffix("http.host", dom, false)),
            ),
            Detection::HttpUrl { host, uri } => (
                "alert http any any -> any any".into(),
                format!(
                    "{FLOW} http.host; content:\"{}\"; startswith; endswith; http.uri; content:\"{}\"; startswith;",
                    content(host.as_bytes()),
                    content(uri.as_bytes())
                ),
            ),
        })
    }
}

/// Writes Suricata rules for `items` (one per line, after a `#` header
/// line); returns the number of IOCs that got a rule. See
/// [`super::ids_rules`] for sid/rev and the rules per type.
pub fn write_suricata<W, I>(w: &mut W, items: I, opts: &IdsOptions) -> io::Result<u64>
where
    W: Write,
    I: IntoIterator,
    I::Item: Borrow<Indicator>,
{
    write_rules(w, items, opts, &Suricata)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::ids_rules::tests::ioc;
    use crate::ioc::IocType;
    use chrono::Utc;

    fn render(items: &[Indicator]) -> String {
        let mut out = Vec::new();
        write_suricata(&mut out, items, &IdsOptions::default()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ips_get_one_rule_per_direction() {
        let text = render(&[ioc(IocType::Ipv4, "203.0.113.9", Utc::now())]);
        let rules: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(rules.len(), 2);
        assert!(rules[0].starts_with("alert ip any any -> 203.0.113.9 any ("));
        assert!(rules[1].starts_with("alert ip 203.0.113.9 any -> any any ("));
    }

    #[test]
    fn domains_match_dns_tls_and_http_with_distinct_sids() {
        let text = render(&[ioc(IocType::Domain, "evil.example", Utc::now())]);
        for buf in ["dns.query;", "tls.sni;", "http.host;"] {
            assert!(
                text.contains(&format!("{buf} dotprefix; content:\".evil.example\";")),
                "{buf}: {text}"
            );
        }
        let sids: std::collections::HashSet<&str> = text
            .lines()
            .filter_map(|l| l.split("sid:").nth(1)?.split(';').next())
            .collect();
        assert_eq!(sids.len(), 3);
    }

    #[test]
    fn urls_match_host_and_escaped_uri() {
        let text = render(&[ioc(IocType::Url, "http://evil.example/a;b|c", Utc::now())]);
        assert!(text.contains(
            "http.host; content:\"evil.example\"; startswith; endswith; http.uri; content:\"/a|3B|b|7C|c\"; startswith;"
        ));
    }
}
