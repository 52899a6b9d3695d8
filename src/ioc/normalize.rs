//! Type detection, normalization and validation of raw IOC strings.
//!
//! Rules (issue #3): hashes and domains lower-case; IDN domains to punycode
//! (UTS #46 via the `idna` crate); IPv6 to RFC 5952 canonical text; URL
//! scheme and host lower-cased with the rest kept byte-exact (`http://`
//! added when the scheme is missing); CVE ids
//! upper-case `CVE-YYYY-NNNN+`; ATT&CK ids `T1234` / `T1234.001`. Values are
//! trimmed and refanged first. Private and reserved IPs are accepted but
//! flagged (`reserved`).

use super::{refang, IocType};
use std::net::{Ipv4Addr, Ipv6Addr};
use thiserror::Error;

/// Why a raw value is not a valid IOC. The message is meant for a person
/// (import reports, API `rejected` lists).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IocError {
    #[error("empty value")]
    Empty,
    #[error("value is {0} bytes long; the limit is 2048")]
    TooLong(usize),
    #[error("'{value}' is not a valid {ioc_type}: {reason}")]
    Invalid {
        ioc_type: IocType,
        value: String,
        reason: &'static str,
    },
    #[error("'{0}' is not a recognizable IOC (ipv4, ipv6, domain, url, md5, sha1, sha256, sha512, email, cve, mitre_attack)")]
    Unrecognized(String),
}

/// A validated, normalized IOC value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    pub ioc_type: IocType,
    pub value: String,
    /// Private / loopback / link-local / documentation / reserved IP
    /// (for URLs and emails: their host).
    pub reserved: bool,
}

/// Longest value accepted (bytes, after trimming): long enough for real URLs,
/// short enough that a garbage line cannot bloat the store.
pub const MAX_VALUE_LEN: usize = 2048;

/// Detects the type of `raw` and normalizes it. Same as
/// `normalize(raw, None)`.
pub fn detect(raw: &str) -> Result<Normalized, IocError> {
    normalize(raw, None)
}

/// Normalizes `raw` as `hint` when given (the value must then be of that
/// type), else detects the type.
///
/// Errors: [`IocError`] with the reason; never panics on any input.
pub fn normalize(raw: &str, hint: Option<IocType>) -> Result<Normalized, IocError> {
    let s = refang(raw);
    if s.is_empty() {
        return Err(IocError::Empty);
    }
    if s.len() > MAX_VALUE_LEN {
        return Err(IocError::TooLong(s.len()));
    }
    match hint {
        Some(t) => as_type(&s, t),
        None => guess(&s),
    }
}

fn invalid(ioc_type: IocType, value: &str, reason: &'static str) -> IocError {
    IocError::Invalid {
        ioc_type,
        value: value.chars().take(200).collect(),
        reason,
    }
}

fn guess(s: &str) -> Result<Normalized, IocError> {
    let upper = s.to_ascii_uppercase();
    if upper.starts_with("CVE-") {
        return as_type(s, IocType::Cve);
    }
    if is_attack_id(&upper) {
        return as_type(s, IocType::MitreAttack);
    }
    if s.bytes().all(|b| b.is_ascii_hexdigit()) {
        let t = match s.len() {
            32 => IocType::Md5,
            40 => IocType::Sha1,
            64 => IocType::Sha256,
            128 => IocType::Sha512,
            _ => return Err(IocError::Unrecognized(s.chars().take(200).collect())),
        };
        return as_type(s, t);
    }
    if s.parse::<Ipv4Addr>().is_ok() {
        return as_type(s, IocType::Ipv4);
    }
    if s.contains(':') && !s.contains("://") && !s.contains('@') {
        return as_type(s, IocType::Ipv6);
    }
    if s.contains("://") {
        return as_type(s, IocType::Url);
    }
    if s.contains('@') {
        return as_type(s, IocType::Email);
    }
    if s.contains('/') {
        // `host/path` without a scheme: a URL if the host part is a host.
        let host = s.split('/').next().unwrap_or("");
        if normalize_host(host).is_some() {
            return as_type(s, IocType::Url);
        }
    }
    if looks_like_dotted_numbers(s) {
        return Err(invalid(
            IocType::Ipv4,
            s,
            "octets must be 0-255 in dotted-quad form",
        ));
    }
    match normalize_domain(s) {
        Ok(d) => Ok(Normalized {
            ioc_type: IocType::Domain,
            value: d,
            reserved: false,
        }),
        Err(_) => Err(IocError::Unrecognized(s.chars().take(200).collect())),
    }
}

fn looks_like_dotted_numbers(s: &str) -> bool {
    s.contains('.') && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

fn as_type(s: &str, t: IocType) -> Result<Normalized, IocError> {
    let ok = |value: String, reserved: bool| {
        Ok(Normalized {
            ioc_type: t,
            value,
            reserved,
        })
    };
    match t {
        IocType::Ipv4 => {
            if s.contains('/') {
                return Err(invalid(t, s, "CIDR ranges are not single IOCs"));
            }
            let ip: Ipv4Addr = s.parse().map_err(|_| {
                invalid(
                    t,
                    s,
                    "octets must be 0-255 in dotted-quad form, no leading zeros",
                )
            })?;
            ok(ip.to_string(), ipv4_reserved(ip))
        }
        IocType::Ipv6 => {
            let inner = s
                .strip_prefix('[')
                .and_then(|x| x.strip_suffix(']'))
                .unwrap_or(s);
            if inner.contains('/') {
                return Err(invalid(t, s, "CIDR ranges are not single IOCs"));
            }
            if inner.contains('%') {
                return Err(invalid(t, s, "zone ids are local to one host"));
            }
            let ip: Ipv6Addr = inner
                .parse()
                .map_err(|_| invalid(t, s, "not an IPv6 address"))?;
            ok(ip.to_string(), ipv6_reserved(ip))
        }
        IocType::Domain => {
            let d = normalize_domain(s).map_err(|r| invalid(t, s, r))?;
            ok(d, false)
        }
        IocType::Url => normalize_url(s).map(|(v, r)| Normalized {
            ioc_type: t,
            value: v,
            reserved: r,
        }),
        IocType::Md5 | IocType::Sha1 | IocType::Sha256 | IocType::Sha512 => {
            let want = match t {
                IocType::Md5 => 32,
                IocType::Sha1 => 40,
                IocType::Sha256 => 64,
                _ => 128,
            };
            if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(t, s, "hashes are hexadecimal"));
            }
            if s.len() != want {
                return Err(invalid(t, s, "wrong length for this hash type"));
            }
            ok(s.to_ascii_lowercase(), false)
        }
        IocType::Email => {
            let (local, domain) = s.rsplit_once('@').ok_or_else(|| invalid(t, s, "no '@'"))?;
            let local = local.strip_prefix("mailto:").unwrap_or(local);
            if local.is_empty() || local.len() > 64 {
                return Err(invalid(t, s, "local part must be 1-64 bytes"));
            }
            if local
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == '@')
            {
                return Err(invalid(
                    t,
                    s,
                    "local part has a space, control character, '<', '>' or '@'",
                ));
            }
            let d = normalize_domain(domain).map_err(|r| invalid(t, s, r))?;
            ok(format!("{local}@{d}"), false)
        }
        IocType::Cve => {
            let u = s.to_ascii_uppercase();
            let rest = u
                .strip_prefix("CVE-")
                .ok_or_else(|| invalid(t, s, "must start with CVE-"))?;
            let (year, num) = rest
                .split_once('-')
                .ok_or_else(|| invalid(t, s, "form is CVE-YYYY-NNNN"))?;
            let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
            if year.len() != 4 || !digits(year) || num.len() < 4 || num.len() > 19 || !digits(num) {
                return Err(invalid(t, s, "form is CVE-YYYY-NNNN (4 or more digits)"));
            }
            ok(u, false)
        }
        IocType::MitreAttack => {
            let u = s.to_ascii_uppercase();
            if !is_attack_id(&u) {
                return Err(invalid(t, s, "form is T1234 or T1234.001"));
            }
            ok(u, false)
        }
    }
}

/// `T` + 4 digits, optionally `.` + 3 digits.
fn is_attack_id(u: &str) -> bool {
    let b = u.as_bytes();
    let digits = |r: &[u8]| r.iter().all(|c| c.is_ascii_digit());
    match b.len() {
        5 => b[0] == b'T' && digits(&b[1..5]),
        9 => b[0] == b'T' && digits(&b[1..5]) && b[5] == b'.' && digits(&b[6..9]),
        _ => false,
    }
}

/// Lower-cases, strips one trailing dot, converts IDN to punycode and checks
/// label syntax. Returns the reason on failure.
pub(crate) fn normalize_domain(s: &str) -> Result<String, &'static str> {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() {
        return Err("empty domain");
    }
    if s.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err("domains contain no spaces or control characters");
    }
    let ascii = if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(s).map_err(|_| "not a valid internationalized domain name")?
    };
    if ascii.len() > 253 {
        return Err("longer than 253 characters");
    }
    if !ascii.contains('.') {
        return Err("a domain needs at least one dot");
    }
    for label in ascii.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("each label must be 1-63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("labels may hold only letters, digits, '-' and '_'");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("labels may not start or end with '-'");
        }
    }
    let tld = ascii.rsplit('.').next().unwrap_or("");
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the top-level label cannot be all digits");
    }
    Ok(ascii)
}

/// A URL host: domain, IPv4 or bracketed IPv6. Returns (normalized, reserved).
fn normalize_host(h: &str) -> Option<(String, bool)> {
    if let Some(inner) = h.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        let ip: Ipv6Addr = inner.parse().ok()?;
        return Some((format!("[{ip}]"), ipv6_reserved(ip)));
    }
    if let Ok(ip) = h.parse::<Ipv4Addr>() {
        return Some((ip.to_string(), ipv4_reserved(ip)));
    }
    if looks_like_dotted_numbers(h) {
        return None;
    }
    normalize_domain(h).ok().map(|d| (d, false))
}

/// `scheme://[userinfo@]host[:port][/path?query#fragment]`. Scheme and host
/// are lower-cased (host IDN→punycode, IPv6 canonical); userinfo, port and
/// everything from the first `/`, `?` or `#` after the host are kept exactly.
/// A URL without a scheme (`tinyurl.com/qxzz6ky`) gets `http://`, so that
/// its STIX pattern, CEF `request` and lookups name a full URL.
fn normalize_url(s: &str) -> Result<(String, bool), IocError> {
    let t = IocType::Url;
    // Control characters (tabs, newlines) never; plain spaces only after the
    // host, where real payload URLs do carry them ("/DOVIDNIK - (2018).zip").
    if s.chars()
        .any(|c| c.is_control() || (c.is_whitespace() && c != ' '))
    {
        return Err(invalid(
            t,
            s,
            "URLs contain no tabs, newlines or control characters",
        ));
    }
    let (scheme, rest) = match s.find("://") {
        Some(i) => (Some(&s[..i]), &s[i + 3..]),
        None => (None, s),
    };
    if let Some(sc) = scheme {
        let b = sc.as_bytes();
        if b.is_empty()
            || !b[0].is_ascii_alphabetic()
            || !b
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            return Err(invalid(
                t,
                s,
                "the scheme must be letters, digits, '+', '-', '.'",
            ));
        }
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains(' ') {
        return Err(invalid(t, s, "the host part contains a space"));
    }
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (host, port) = split_port(hostport);
    if let Some(p) = port {
        if p.is_empty()
            || p.len() > 5
            || !p.bytes().all(|b| b.is_ascii_digit())
            || p.parse::<u32>().map_or(true, |n| n > 65535)
        {
            return Err(invalid(t, s, "the port must be a number 0-65535"));
        }
    }
    let (host, reserved) = normalize_host(host)
        .ok_or_else(|| invalid(t, s, "the host is not a valid domain or IP"))?;
    let mut out = String::with_capacity(s.len() + 7);
    match scheme {
        Some(sc) => out.push_str(&sc.to_ascii_lowercase()),
        // `tinyurl.com/qxzz6ky`: what a browser or proxy log makes of it.
        None => out.push_str("http"),
    }
    out.push_str("://");
    if let Some(u) = userinfo {
        out.push_str(u);
        out.push('@');
    }
    out.push_str(&host);
    if let Some(p) = port {
        out.push(':');
        out.push_str(p);
    }
    out.push_str(tail);
    Ok((out, reserved))
}

/// Splits `host:port`, minding bracketed IPv6 hosts.
fn split_port(hp: &str) -> (&str, Option<&str>) {
    if hp.starts_with('[') {
        if let Some(i) = hp.find(']') {
            let (h, r) = hp.split_at(i + 1);
            return (h, r.strip_prefix(':'));
        }
        return (hp, None);
    }
    match hp.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (hp, None),
    }
}

/// Private, loopback, link-local, CGNAT, documentation, benchmarking,
/// multicast, broadcast, "this network" and 240/4.
fn ipv4_reserved(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || o[0] == 0
        || o[0] >= 240
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
}

/// Loopback, unspecified, multicast, unique-local, link-local,
/// documentation (2001:db8::/32) and IPv4-mapped reserved addresses.
fn ipv6_reserved(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return ipv4_reserved(v4);
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        || (s[0] == 0x2001 && s[1] == 0x0db8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> (IocType, String, bool) {
        let r = detect(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        (r.ioc_type, r.value, r.reserved)
    }

    #[test]
    fn detects_each_type() {
        assert_eq!(n("8.8.8.8"), (IocType::Ipv4, "8.8.8.8".into(), false));
        assert_eq!(n("10.0.0.1"), (IocType::Ipv4, "10.0.0.1".into(), true));
        assert_eq!(
            n("2001:0DB8:0000:0000:0000:0000:0000:0001"),
            (IocType::Ipv6, "2001:db8::1".into(), true)
        );
        assert_eq!(n("2a00:1450:4001:0:0:0:0:200e").1, "2a00:1450:4001::200e");
        assert_eq!(n("Evil.Example.COM.").1, "evil.example.com");
        assert_eq!(n("bücher.example").1, "xn--bcher-kva.example");
        assert_eq!(
            n("hxxps://Evil[.]COM/Path?A=B").1,
            "https://evil.com/Path?A=B"
        );
        assert_eq!(n("D41D8CD98F00B204E9800998ECF8427E").0, IocType::Md5);
        assert_eq!(n(&"A".repeat(40)).0, IocType::Sha1);
        assert_eq!(n(&"b".repeat(64)).0, IocType::Sha256);
        assert_eq!(n(&"c".repeat(128)).0, IocType::Sha512);
        assert_eq!(n("Bad[@]Mail[.]RU").1, "Bad@mail.ru");
        assert_eq!(n("cve-2021-44228").1, "CVE-2021-44228");
        assert_eq!(n("t1071.001").1, "T1071.001");
        assert_eq!(n("evil.com/gate.php").0, IocType::Url);
        assert_eq!(n("tinyurl.com/qxzz6ky").1, "http://tinyurl.com/qxzz6ky");
    }

    #[test]
    fn rejects_with_reasons() {
        assert!(matches!(
            detect("999.1.1.1"),
            Err(IocError::Invalid {
                ioc_type: IocType::Ipv4,
                ..
            })
        ));
        assert!(matches!(
            detect(&"a".repeat(31)),
            Err(IocError::Unrecognized(_))
        ));
        assert!(normalize(&"a".repeat(31), Some(IocType::Md5)).is_err());
        assert!(matches!(
            detect("localhost"),
            Err(IocError::Unrecognized(_))
        ));
        assert!(detect("").is_err());
        assert!(detect("   ").is_err());
        assert!(detect("http://exa mple.com/").is_err());
        assert!(detect("http://example.com/a\tb").is_err());
        assert_eq!(
            n("http://45.124.132.127/DOVIDNIK - (2018).zip").1,
            "http://45.124.132.127/DOVIDNIK - (2018).zip"
        );
        assert!(detect("http://host:99999/").is_err());
        assert!(normalize("10.0.0.0/8", Some(IocType::Ipv4)).is_err());
        assert!(normalize("CVE-21-1", Some(IocType::Cve)).is_err());
        assert!(detect(&"x".repeat(3000)).is_err());
    }

    #[test]
    fn url_keeps_path_byte_exact_and_escapes_nothing() {
        assert_eq!(
            n(r"HTTP://Bücher.Example:8080/a%20b/'q'\x?y=Z#F").1,
            r"http://xn--bcher-kva.example:8080/a%20b/'q'\x?y=Z#F"
        );
        assert_eq!(n("http://[2001:DB8::0:1]/x").1, "http://[2001:db8::1]/x");
    }

    #[test]
    fn never_panics_on_odd_bytes() {
        for s in [
            "\u{0}",
            "::::",
            "[",
            "]",
            "@",
            "://",
            "a@",
            "@b.c",
            "http://",
            "x://y",
            "\u{202e}evil.com",
            "é",
            "T1",
            "CVE-",
        ] {
            let _ = detect(s);
        }
    }
}
