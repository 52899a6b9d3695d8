//! Plain IOC lists: one IOC per line.
//!
//! - Blank lines and lines starting with `#` or `//` are ignored.
//! - Only the first whitespace-separated token counts, so `sha256sum`
//!   output (`<hash>  <file>`) and trailing notes (`1.2.3.4  # c2`) work.
//! - Defanged values are refanged (`hxxp://evil[.]com`); `ip:port`,
//!   `domain:port` and `[ipv6]:port` give the host.
//! - A file named `*.md5`, `*.sha1`, `*.sha256` or `*.sha512` is a hash list:
//!   every line must be a hash of that type.
//! - Lines longer than [`MAX_LINE`] bytes, and lines that are not UTF-8, are
//!   per-line errors; the rest of the file imports.
//!
//! Lines are streamed from the byte slice: memory stays flat however long
//! the file or a single line is.

use super::{blank, normalize_as, Ctx, Item, ItemError, Want};
use crate::ioc::{refang, IocType};

/// Longest line considered (bytes, line ending excluded).
pub const MAX_LINE: usize = 64 * 1024;

/// The hash type a file name promises (`samples.sha256` → sha256).
pub fn hint_from_name(file_name: &str) -> Option<IocType> {
    let ext = file_name.rsplit_once('.')?.1.to_ascii_lowercase();
    match ext.as_str() {
        "md5" => Some(IocType::Md5),
        "sha1" => Some(IocType::Sha1),
        "sha256" => Some(IocType::Sha256),
        "sha512" => Some(IocType::Sha512),
        _ => None,
    }
}

/// Iterator over the items of a text list (see the module docs).
pub struct TextItems<'a> {
    bytes: &'a [u8],
    /// Offset of the next unread line.
    pos: usize,
    /// Number of the last line read (1-based).
    line: usize,
    hint: Option<IocType>,
    ctx: Ctx,
}

impl<'a> TextItems<'a> {
    pub(crate) fn new(bytes: &'a [u8], file_name: &str, ctx: Ctx) -> TextItems<'a> {
        let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        TextItems {
            bytes,
            pos: 0,
            line: 0,
            hint: hint_from_name(file_name),
            ctx,
        }
    }

    /// Bytes consumed so far.
    pub fn consumed(&self) -> usize {
        self.pos
    }

    fn error(&self, reason: String) -> Item {
        Item::Error(ItemError {
            line: Some(self.line),
            reason,
        })
    }
}

impl Iterator for TextItems<'_> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        while self.pos < self.bytes.len() {
            let rest = &self.bytes[self.pos..];
            let len = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            self.pos += (len + 1).min(rest.len());
            self.line += 1;
            let raw = &rest[..len];
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.len() > MAX_LINE {
                return Some(self.error(format!(
                    "line is {} bytes long; lines over {MAX_LINE} bytes cannot hold one IOC",
                    raw.len()
                )));
            }
            let text = match std::str::from_utf8(raw) {
                Ok(t) => t,
                Err(e) => {
                    return Some(self.error(format!(
                        "not valid UTF-8 (bad byte at column {}); re-encode the file as UTF-8",
                        e.valid_up_to() + 1
                    )))
                }
            };
            let Some(token) = text.split_whitespace().next() else {
                continue;
            };
            if token.starts_with('#') || token.starts_with("//") {
                continue;
            }
            return Some(self.item(token));
        }
        None
    }
}

impl TextItems<'_> {
    fn item(&self, token: &str) -> Item {
        let refanged = refang(token);
        let value = strip_port(&refanged);
        let want = self.hint.map_or(Want::Any, Want::Type);
        match normalize_as(value, want) {
            Ok(n) => {
                let mut o = blank();
                o.ioc_type = n.ioc_type;
                o.value = n.value;
                o.reserved = n.reserved;
                Item::Observation(self.ctx.finish(o))
            }
            Err(e) => self.error(e.to_string()),
        }
    }
}

/// `1.2.3.4:8080` → `1.2.3.4`, `evil.com:443` → `evil.com`,
/// `[2001:db8::1]:443` → `[2001:db8::1]`; anything else unchanged.
fn strip_port(s: &str) -> &str {
    let Some((host, port)) = s.rsplit_once(':') else {
        return s;
    };
    let is_port = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    // No ':' left in the host: IPv4 or a domain (a bare IPv6 keeps its last group).
    let is_host =
        (!host.is_empty() && !host.contains(':')) || (host.starts_with('[') && host.ends_with(']'));
    if is_port && is_host {
        host
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{parse_bytes, Format, ImportDefaults};

    fn parse(bytes: &[u8], name: &str) -> crate::import::Parsed {
        parse_bytes(bytes, name, Format::Text, &ImportDefaults::default()).unwrap()
    }

    #[test]
    fn comments_defanged_ports_and_notes() {
        let p = parse(
            b"\xef\xbb\xbf# header\r\n\r\n// note\nhxxp://evil[.]com/a\r\n1.2.3[.]4:8080\n[2001:db8::1]:443\n\
              d41d8cd98f00b204e9800998ecf8427e  sample.exe\nnot-an-ioc\n  evil[.]org  # c2\n",
            "list.txt",
        );
        let got: Vec<(IocType, &str)> = p
            .observations
            .iter()
            .map(|o| (o.ioc_type, o.value.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (IocType::Url, "http://evil.com/a"),
                (IocType::Ipv4, "1.2.3.4"),
                (IocType::Ipv6, "2001:db8::1"),
                (IocType::Md5, "d41d8cd98f00b204e9800998ecf8427e"),
                (IocType::Domain, "evil.org"),
            ]
        );
        assert_eq!(p.errors.len(), 1);
        assert_eq!(p.errors[0].line, Some(8));
    }

    #[test]
    fn hash_list_extension_is_a_type_hint() {
        let sha = "a".repeat(64);
        let p = parse(
            format!("{sha}\n{}\nevil.com\n", "b".repeat(40)).as_bytes(),
            "samples.SHA256",
        );
        assert_eq!(p.observations.len(), 1);
        assert_eq!(p.observations[0].ioc_type, IocType::Sha256);
        assert_eq!(
            p.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![Some(2), Some(3)]
        );
    }

    #[test]
    fn long_and_non_utf8_lines_are_line_errors() {
        let mut bytes = b"evil.com\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'a', MAX_LINE + 1));
        bytes.extend(b"\nbad\xff.com\nok.com");
        let p = parse(&bytes, "x");
        assert_eq!(p.observations.len(), 2);
        assert_eq!(p.errors.len(), 2);
        assert!(
            p.errors[0].reason.contains("65537 bytes"),
            "{}",
            p.errors[0].reason
        );
        assert_eq!(p.errors[1].line, Some(3));
        assert!(p.errors[1].reason.contains("UTF-8"));
    }

    #[test]
    fn ports_only_strip_from_ips() {
        assert_eq!(strip_port("1.2.3.4:80"), "1.2.3.4");
        assert_eq!(strip_port("evil.com:80"), "evil.com");
        assert_eq!(strip_port("http://evil.com"), "http://evil.com");
        assert_eq!(strip_port("2001:db8::1"), "2001:db8::1");
        assert_eq!(strip_port("[::1]:22"), "[::1]");
    }
}
