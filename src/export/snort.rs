//! Snort 2.9 rules (the syntax `idstools` and Snort 2.9.x read; Snort 3
//! loads them after `snort2lua`) generated from IOCs. Which IOCs get which
//! rules, and sid, rev, msg, reference and metadata are shared with
//! Suricata in [`super::ids_rules`]; this file holds only the Snort syntax.
//! Snort 2.9 has no DNS, SNI or Host buffer, so those match raw bytes:
//!
//! | detection | rule |
//! |---|---|
//! | IP, to / from | `alert ip any any -> <ip> any` / `alert ip <ip> any -> any any` |
//! | domain, DNS | `alert udp any any -> any 53 (content:"<wire name>"; nocase;)`: the name in DNS wire format (`\|04\|evil\|07\|example\|00\|`), the match used by published IOC rule sets; it also matches subdomains (their labels end with the same bytes) |
//! | domain, TLS | `alert tcp any any -> any 443 (flow:established,to_server; content:"\|16 03\|"; depth:2; content:"\|00 <len>\|<d>"; nocase; distance:0;)`: the SNI host name entry (type 0, length, name), this exact name only |
//! | domain, HTTP | `alert tcp any any -> any $HTTP_PORTS (flow:established,to_server; content:"Host\|3A 20\|<d>\|0D 0A\|"; http_header; nocase;)`: this exact host only |
//! | URL | `alert tcp any any -> any $HTTP_PORTS (flow:established,to_server; content:"<uri>"; http_uri; depth:<len>; content:"Host\|3A 20\|<host>"; http_header; nocase;)` |

use super::ids_rules::{content, write_rules, Detection, Dialect, IdsOptions};
use crate::ioc::Indicator;
use std::borrow::Borrow;
use std::io::{self, Write};

/// The Snort 2.9 dialect of [`write_rules`].
pub struct Snort;

/// A domain in DNS wire format without the compression pointer: each label
/// prefixed by its length, ended by the zero-length root. `None` if a
/// label is empty or longer than 63 bytes (no DNS query can hold it).
pub fn dns_wire_name(domain: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(domain.len() + 2);
    for label in domain.trim_end_matches('.').split('.') {
        let n = u8::try_from(label.len())
            .ok()
            .filter(|n| (1..=63).contains(n))?;
        out.push(n);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    Some(out)
}

impl Dialect for Snort {
    fn name(&self) -> &'static str {
        "Snort 2.9"
    }

    fn detect(&self, d: &Detection) -> Option<(String, String)> {
        const FLOW: &str = "flow:established,to_server;";
        const HTTP: &str = "alert tcp any any -> any $HTTP_PORTS";
        Some(match d {
            Detection::IpDst(ip) => (format!("alert ip any any -> {ip} any"), String::new()),
            Detection::IpSrc(ip) => (format!("alert ip {ip} any -> any any"), String::new()),
            Detection::DnsQuery(dom) => (
                "alert udp any any -> any 53".into(),
                format!("content:\"{}\"; nocase;", content(&dns_wire_name(dom)?)),
            ),
            Detection::TlsSni(dom) => {
                let len = u16::try_from(dom.len()).ok()?.to_be_bytes();
                let mut entry = vec![0u8, len[0], len[1]];
                entry.extend_from_slice(dom.as_bytes());
                (
                    "alert tcp any any -> any 443".into(),
                    format!(
                        "{FLOW} content:\"|16 03|\"; depth:2; content:\"{}\"; nocase; distance:0;",
                        content(&entry)
                    ),
                )
            }
            Detection::HttpHost(dom) => (
                HTTP.into(),
                format!(
                    "{FLOW} content:\"{}\"; http_header; nocase;",
                    content(format!("Host: {dom}\r\n").as_bytes())
                ),
            ),
            Detection::HttpUrl { host, uri } => (
                HTTP.into(),
                format!(
                    "{FLOW} content:\"{}\"; http_uri; depth:{}; content:\"{}\"; http_header; nocase;",
                    content(uri.as_bytes()),
                    uri.len().max(1),
                    content(format!("Host: {host}").as_bytes())
                ),
            ),
        })
    }
}

/// Writes Snort 2.9 rules for `items` (one per line, after a `#` header
/// line); returns the number of IOCs that got a rule. See
/// [`super::ids_rules`] for sid/rev and the rules per type.
pub fn write_snort<W, I>(w: &mut W, items: I, opts: &IdsOptions) -> io::Result<u64>
where
    W: Write,
    I: IntoIterator,
    I::Item: Borrow<Indicator>,
{
    write_rules(w, items, opts, &Snort)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::ids_rules::tests::ioc;
    use crate::ioc::IocType;
    use chrono::Utc;

    fn render(items: &[Indicator]) -> String {
        let mut out = Vec::new();
        write_snort(&mut out, items, &IdsOptions::default()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn dns_wire_name_prefixes_label_lengths() {
        assert_eq!(
            dns_wire_name("evil.example").unwrap(),
            b"\x04evil\x07example\x00"
        );
        assert!(dns_wire_name("a..b").is_none());
        assert!(dns_wire_name(&format!("{}.x", "a".repeat(64))).is_none());
    }

    #[test]
    fn domain_rules_use_wire_format_sni_and_host_header() {
        let text = render(&[ioc(IocType::Domain, "evil.example", Utc::now())]);
        assert!(text.contains("content:\"|04|evil|07|example|00|\"; nocase;"));
        assert!(text.contains("content:\"|00 00 0C|evil.example\"; nocase; distance:0;"));
        assert!(text.contains("content:\"Host: evil.example|0D 0A|\"; http_header; nocase;"));
    }

    #[test]
    fn ipv6_rules_go_both_ways_and_share_sids_with_suricata() {
        let i = ioc(IocType::Ipv6, "2001:db8::1", Utc::now());
        let snort = render(std::slice::from_ref(&i));
        assert!(snort.contains("alert ip any any -> 2001:db8::1 any ("));
        assert!(snort.contains("alert ip 2001:db8::1 any -> any any ("));
        let mut s = Vec::new();
        super::super::suricata::write_suricata(&mut s, [&i], &IdsOptions::default()).unwrap();
        let sids = |t: &str| -> Vec<String> {
            t.lines()
                .filter_map(|l| Some(l.split("sid:").nth(1)?.split(';').next()?.to_string()))
                .collect()
        };
        assert_eq!(sids(&snort), sids(&String::from_utf8(s).unwrap()));
    }
}
