//! `[[feeds]]` in `iocd.toml`: one table per feed, and the checks
//! `iocd check-config` runs on them.
//!
//! Only `name`, `url` and `format` are required; every other key has a
//! default fit for a feed polled hourly over a LAN. Secrets (API keys,
//! bearer tokens, Basic passwords) are never written in the config itself:
//! the config names a file holding them, so the config can be shown,
//! diffed and backed up without leaking them, and they never reach the
//! status API or a log line.

use crate::import::Format;
use crate::ioc::Tlp;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// What a feed serves, and so how it is fetched and parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedFormat {
    /// CSV (MISP CSV export columns or `value[,type]` rows).
    Csv,
    /// One IOC per line.
    Text,
    /// One MISP event JSON document.
    Misp,
    /// A MISP feed directory: `manifest.json` plus `<uuid>.json` per event;
    /// only events new or changed since the last run are fetched.
    MispFeed,
    /// A STIX 2.1 bundle.
    Stix,
    /// A TAXII 2.1 collection's `objects/` URL, polled by `added_after`.
    Taxii,
    /// OpenIOC 1.0 / 1.1 XML.
    Openioc,
    /// An RSS 2.0 / RSS 1.0 / Atom news feed: each item becomes an article
    /// and the IOCs its text names are extracted (issue #14).
    Rss,
}

impl FeedFormat {
    /// The importer a staged download of this feed goes through.
    pub fn import_format(self) -> Format {
        match self {
            FeedFormat::Csv => Format::Csv,
            FeedFormat::Text => Format::Text,
            FeedFormat::Misp | FeedFormat::MispFeed => Format::Misp,
            FeedFormat::Stix | FeedFormat::Taxii => Format::Stix,
            FeedFormat::Openioc => Format::OpenIoc,
            FeedFormat::Rss => Format::Rss,
        }
    }

    /// The name used in the config and the status.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedFormat::Csv => "csv",
            FeedFormat::Text => "text",
            FeedFormat::Misp => "misp",
            FeedFormat::MispFeed => "misp_feed",
            FeedFormat::Stix => "stix",
            FeedFormat::Taxii => "taxii",
            FeedFormat::Openioc => "openioc",
            FeedFormat::Rss => "rss",
        }
    }
}

/// One `[[feeds]]` table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// Unique name; the source name of every IOC the feed brings
    /// (letters, digits, `-`, `_`, `.`; at most 64).
    pub name: String,
    /// `http://…` / `https://…`, or an absolute local path (a file; a
    /// directory for `misp_feed`, or a directory of files walked like
    /// `iocd import`). A local path need not exist at load.
    pub url: String,
    /// See [`FeedFormat`].
    pub format: FeedFormat,
    /// Time between runs: `"30s"`, `"15m"`, `"1h"`, `"1d"` (at least 1 s).
    /// A random 0-10 % is added to each wait so feeds do not run in step.
    /// Default `"1h"`.
    #[serde(default = "d_interval")]
    pub interval: String,
    /// Scheduled by `iocd serve` (a disabled feed can still be run with
    /// `iocd feeds run`). Default true.
    #[serde(default = "d_true")]
    pub enabled: bool,
    /// Confidence 0-100 for IOCs the feed states none for. Default: the
    /// importer's (50).
    #[serde(default)]
    pub confidence: Option<u8>,
    /// Tags added to every IOC of the feed.
    #[serde(default)]
    pub tags: Vec<String>,
    /// TLP (`clear`, `green`, `amber`, `amber+strict`, `red`) for IOCs the
    /// feed states none for. Default: none.
    #[serde(default)]
    pub tlp: Option<String>,
    /// CSV columns holding IOCs (as `iocd import --column`).
    #[serde(default)]
    pub columns: Vec<String>,
    /// PEM CA certificate(s) trusted for this feed's HTTPS server, in
    /// addition to the public roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) for mutual TLS; needs `client_key`.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// File holding a bearer token: sent as `Authorization: Bearer <token>`.
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// File holding an API key, sent in `api_key_header`.
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// Header carrying `api_key_file` (MISP: `Authorization`). Default
    /// `X-API-Key`.
    #[serde(default = "d_api_key_header")]
    pub api_key_header: String,
    /// HTTP Basic user name (TAXII servers); the password is in
    /// `password_file`.
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the Basic password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Whole-run time limit of one HTTP request, body included (a server
    /// that trickles bytes is cut off here). Default `"5m"`.
    #[serde(default = "d_timeout")]
    pub timeout: String,
    /// TCP + TLS connect time limit. Default `"10s"`.
    #[serde(default = "d_connect_timeout")]
    pub connect_timeout: String,
    /// Largest download of one run in bytes, all files and pages together,
    /// enforced while streaming. Default 256 MiB.
    #[serde(default = "d_max_bytes")]
    pub max_bytes: u64,
    /// Redirects followed per request (a loop fails at this many). Default 5.
    #[serde(default = "d_max_redirects")]
    pub max_redirects: usize,
    /// TAXII: objects asked for per page (`limit`). Default 1000.
    #[serde(default = "d_page_size")]
    pub page_size: u32,
    /// TAXII: pages fetched per run at most (the rest come next run).
    /// Default 1000.
    #[serde(default = "d_max_pages")]
    pub max_pages: u32,
}

fn d_interval() -> String {
    "1h".into()
}
fn d_true() -> bool {
    true
}
fn d_api_key_header() -> String {
    "X-API-Key".into()
}
fn d_timeout() -> String {
    "5m".into()
}
fn d_connect_timeout() -> String {
    "10s".into()
}
fn d_max_bytes() -> u64 {
    256 << 20
}
fn d_max_redirects() -> usize {
    5
}
fn d_page_size() -> u32 {
    1000
}
fn d_max_pages() -> u32 {
    1000
}

/// Parses `"90s"`, `"15m"`, `"2h"`, `"1d"` (one integer and one unit; a
/// bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!("'{s}' is not a duration (write e.g. \"30s\", \"15m\", \"1h\", \"1d\")")
    })?;
    let mult = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => return Err(format!("'{s}': unknown unit '{other}' (s, m, h or d)")),
    };
    n.checked_mul(mult)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("'{s}' is too long"))
}

impl FeedConfig {
    /// Whether `url` is fetched over HTTP(S) (else it is a local path).
    pub fn is_remote(&self) -> bool {
        let u = self.url.to_ascii_lowercase();
        u.starts_with("http://") || u.starts_with("https://")
    }

    /// The local path of a non-remote feed (`file://` prefix allowed).
    pub fn local_path(&self) -> PathBuf {
        PathBuf::from(self.url.strip_prefix("file://").unwrap_or(&self.url))
    }

    /// [`FeedConfig::interval`] parsed (validated at load).
    pub fn interval(&self) -> Duration {
        parse_duration(&self.interval).unwrap_or(Duration::from_secs(3600))
    }

    /// [`FeedConfig::timeout`] parsed.
    pub fn timeout(&self) -> Duration {
        parse_duration(&self.timeout).unwrap_or(Duration::from_secs(300))
    }

    /// [`FeedConfig::connect_timeout`] parsed.
    pub fn connect_timeout(&self) -> Duration {
        parse_duration(&self.connect_timeout).unwrap_or(Duration::from_secs(10))
    }

    /// [`FeedConfig::tlp`] parsed.
    pub fn tlp(&self) -> Option<Tlp> {
        self.tlp.as_deref().and_then(|t| Tlp::from_str(t).ok())
    }

    /// The URL without user info or query (`https://host/path`), safe to
    /// show and to store as the IOCs' source reference.
    pub fn display_url(&self) -> String {
        if !self.is_remote() {
            return self.url.clone();
        }
        match reqwest::Url::parse(&self.url) {
            Ok(mut u) => {
                let _ = u.set_username("");
                let _ = u.set_password(None);
                u.set_query(None);
                u.to_string()
            }
            Err(_) => self.url.clone(),
        }
    }

    /// The public view of the config for the status API (no secrets: file
    /// paths of secrets are shown, never their content).
    pub fn public_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "url": self.display_url(),
            "format": self.format.as_str(),
            "interval": self.interval,
            "enabled": self.enabled,
            "confidence": self.confidence,
            "tags": self.tags,
            "tlp": self.tlp,
            "transport": if !self.is_remote() { "local" } else if self.url.to_ascii_lowercase().starts_with("https://") { "https" } else { "http" },
            "auth": if self.username.is_some() { "basic" } else if self.bearer_token_file.is_some() { "bearer" } else if self.api_key_file.is_some() { "api_key" } else { "none" },
            "client_certificate": self.client_cert.is_some(),
            "max_bytes": self.max_bytes,
            "timeout": self.timeout,
        })
    }
}

/// Checks every feed; calls `err(index, key, message)` per problem (the
/// caller turns the index and key into a line of the config file).
pub fn validate(feeds: &[FeedConfig], mut err: impl FnMut(usize, &str, String)) {
    let mut seen = std::collections::BTreeSet::new();
    for (i, f) in feeds.iter().enumerate() {
        let n = &f.name;
        let name_ok = !n.is_empty()
            && n.len() <= 64
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && !n.starts_with('.');
        if !name_ok {
            err(
                i,
                "name",
                format!("feed name '{n}' must be 1-64 letters, digits, '-', '_' or '.' (not starting with '.')"),
            );
        }
        if !seen.insert(n.clone()) {
            err(i, "name", format!("feed name '{n}' is used twice"));
        }
        if f.is_remote() {
            match reqwest::Url::parse(&f.url) {
                Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => {}
                Ok(_) => err(i, "url", format!("feed '{n}': URL '{}' has no host", f.url)),
                Err(e) => err(
                    i,
                    "url",
                    format!("feed '{n}': URL '{}' is invalid: {e}", f.url),
                ),
            }
        } else if f.url.contains("://") && !f.url.starts_with("file://") {
            err(
                i,
                "url",
                format!("feed '{n}': only http://, https:// URLs or a local path are supported, not '{}'", f.url),
            );
        } else {
            // A local path that does not exist (yet) is not a config
            // error: a drop directory may be created later, a mount may be
            // down at boot. Its runs fail with "cannot read" in the status.
            let p = f.local_path();
            if !p.is_absolute() {
                err(
                    i,
                    "url",
                    format!("feed '{n}': a local path must be absolute, not '{}'", f.url),
                );
            }
            if f.format == FeedFormat::MispFeed && p.is_file() {
                err(
                    i,
                    "url",
                    format!(
                        "feed '{n}': a local misp_feed must be a directory holding manifest.json"
                    ),
                );
            }
        }
        if f.format == FeedFormat::Taxii && !f.is_remote() {
            err(
                i,
                "format",
                format!("feed '{n}': a taxii feed needs an http(s) URL"),
            );
        }
        for (key, v, min) in [
            ("interval", &f.interval, 1u64),
            ("timeout", &f.timeout, 1),
            ("connect_timeout", &f.connect_timeout, 1),
        ] {
            match parse_duration(v) {
                Ok(d) if d.as_secs() >= min && d.as_secs() <= 30 * 86_400 => {}
                Ok(_) => err(
                    i,
                    key,
                    format!("feed '{n}': {key} must be between 1s and 30d"),
                ),
                Err(e) => err(i, key, format!("feed '{n}': {key}: {e}")),
            }
        }
        if f.confidence.is_some_and(|c| c > 100) {
            err(
                i,
                "confidence",
                format!("feed '{n}': confidence must be 0-100"),
            );
        }
        if let Some(t) = &f.tlp {
            if Tlp::from_str(t).is_err() {
                err(
                    i,
                    "tlp",
                    format!(
                        "feed '{n}': unknown TLP '{t}' (clear, green, amber, amber+strict, red)"
                    ),
                );
            }
        }
        if !(1024..=(16u64 << 30)).contains(&f.max_bytes) {
            err(
                i,
                "max_bytes",
                format!("feed '{n}': max_bytes must be between 1024 and 17179869184"),
            );
        }
        if f.max_redirects > 20 {
            err(
                i,
                "max_redirects",
                format!("feed '{n}': max_redirects must be at most 20"),
            );
        }
        if !(1..=100_000).contains(&f.page_size) {
            err(
                i,
                "page_size",
                format!("feed '{n}': page_size must be between 1 and 100000"),
            );
        }
        if !(1..=100_000).contains(&f.max_pages) {
            err(
                i,
                "max_pages",
                format!("feed '{n}': max_pages must be between 1 and 100000"),
            );
        }
        if f.client_cert.is_some() != f.client_key.is_some() {
            err(
                i,
                if f.client_cert.is_some() {
                    "client_cert"
                } else {
                    "client_key"
                },
                format!("feed '{n}': client_cert and client_key go together"),
            );
        }
        if f.username.is_some() != f.password_file.is_some() {
            err(
                i,
                "username",
                format!("feed '{n}': username and password_file go together"),
            );
        }
        let auths = [
            f.username.is_some(),
            f.bearer_token_file.is_some(),
            f.api_key_file.is_some(),
        ];
        if auths.iter().filter(|a| **a).count() > 1 {
            err(
                i,
                "bearer_token_file",
                format!("feed '{n}': use one of username/password_file, bearer_token_file, api_key_file"),
            );
        }
        if reqwest::header::HeaderName::from_bytes(f.api_key_header.as_bytes()).is_err() {
            err(
                i,
                "api_key_header",
                format!("feed '{n}': '{}' is not a header name", f.api_key_header),
            );
        }
        for (key, p) in [
            ("ca_file", &f.ca_file),
            ("client_cert", &f.client_cert),
            ("client_key", &f.client_key),
            ("bearer_token_file", &f.bearer_token_file),
            ("api_key_file", &f.api_key_file),
            ("password_file", &f.password_file),
        ] {
            if let Some(p) = p {
                if !p.is_file() {
                    err(
                        i,
                        key,
                        format!("feed '{n}': {key} '{}' is not a readable file", p.display()),
                    );
                } else if !f.is_remote() {
                    err(
                        i,
                        key,
                        format!("feed '{n}': {key} applies only to http(s) feeds"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("15m").unwrap().as_secs(), 900);
        assert_eq!(parse_duration("2h").unwrap().as_secs(), 7200);
        assert_eq!(parse_duration("1d").unwrap().as_secs(), 86_400);
        assert_eq!(parse_duration("7").unwrap().as_secs(), 7);
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
