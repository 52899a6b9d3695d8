//! The TOML configuration (`iocd.toml`). Every field has a default, so an
//! empty file — or no file at all — is a working configuration.
//!
//! Errors carry the line and column of the offending key
//! (`iocd check-config`). Unknown keys are errors, so a typo never silently
//! falls back to a default.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Every scope a key can hold (issue #4). `admin` implies all others.
pub const ALL_SCOPES: &[&str] = &[
    "read:iocs",
    "read:stix",
    "read:misp",
    "read:taxii",
    "read:cef",
    "read:openioc",
    "read:rules",
    "read:articles",
    "read:stats",
    "write:iocs",
    "write:taxii",
    "admin",
];

/// The whole configuration file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub tls: TlsConfig,
    pub auth: AuthConfig,
    pub expiry: ExpiryConfig,
    /// Tiers by name. Defaults: `free` and `pro` from the spec's table. A
    /// `[tiers.x]` table may set only some keys: the others come from the
    /// built-in tier of that name, or from `free` for a new tier.
    #[serde(deserialize_with = "de_tiers")]
    pub tiers: BTreeMap<String, TierConfig>,
    pub demo: DemoConfig,
    pub inbox: InboxConfig,
    /// `[[feeds]]`: feeds `iocd serve` pulls on a schedule
    /// ([`crate::feeds::FeedConfig`]). Default: none.
    pub feeds: Vec<crate::feeds::FeedConfig>,
    /// `[rules]`: Suricata/Snort rule exports.
    pub rules: RulesConfig,
    /// `[articles]`: IOC extraction from articles and reports.
    pub articles: ArticlesConfig,
}

/// `[articles]`: IOC extraction from RSS/Atom items and report documents
/// ([`crate::articles`], [`crate::ioc::extract`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ArticlesConfig {
    /// Values never extracted: exact IOC values, or domains (a domain
    /// also covers its subdomains and the hosts of URLs and emails on
    /// them). Default: reference sites reports link to
    /// ([`crate::articles::config::DEFAULT_ALLOW_LIST`]).
    pub allow_list: Vec<String>,
    /// Domains of the publishers whose reports are imported (their own
    /// links are never IOCs), on top of each article's own link host.
    pub publisher_domains: Vec<String>,
}

impl Default for ArticlesConfig {
    fn default() -> Self {
        ArticlesConfig {
            allow_list: crate::articles::config::DEFAULT_ALLOW_LIST
                .iter()
                .map(|s| s.to_string())
                .collect(),
            publisher_domains: Vec::new(),
        }
    }
}

/// `[rules]`: the Suricata and Snort exports ([`crate::export::ids_rules`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// First sid of the generated rules; they use `sid_base` to
    /// `sid_base + 99_999_999`. Default 1000000000 (clear of the Talos and
    /// Emerging Threats ranges); 1 to 4194967295 (the range fits a u32).
    pub sid_base: u32,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            sid_base: crate::export::ids_rules::DEFAULT_SID_BASE,
        }
    }
}

/// Parses a listen address: `IP:PORT` (`127.0.0.1:8443`, `0.0.0.0:8443`,
/// `[::1]:8443`), or `localhost:PORT` (loopback, 127.0.0.1). Other host
/// names are refused with the expected form: the static binary does no
/// DNS or NSS lookups. Used by `--listen` and `[server] listen`.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let expected = "expected IP:PORT, e.g. 127.0.0.1:8443 (this host only), 0.0.0.0:8443 (every IPv4 address), [::]:8443 or localhost:8443";
    match s.rsplit_once(':') {
        Some((host, port)) if host.eq_ignore_ascii_case("localhost") => port
            .parse::<u16>()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
            .map_err(|_| format!("'{port}' is not a port number (0-65535); {expected}")),
        Some((host, port)) if port.parse::<u16>().is_ok() => Err(format!(
            "'{host}' is not an IP address; host names other than localhost are not resolved (no DNS lookups); {expected}"
        )),
        _ => Err(format!("'{s}' is not a listen address; {expected}")),
    }
}

fn de_listen<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let s = String::deserialize(d)?;
    parse_listen(&s).map_err(serde::de::Error::custom)
}

fn de_listen_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    s.map(|s| parse_listen(&s).map_err(serde::de::Error::custom))
        .transpose()
}

/// `[server]`: listeners, limits and timeouts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// HTTPS listener (IP literal and port, or `localhost:PORT`; see
    /// [`parse_listen`]). Default `127.0.0.1:8443`.
    #[serde(deserialize_with = "de_listen")]
    pub listen: SocketAddr,
    /// Optional plaintext HTTP listener. Off unless set explicitly.
    #[serde(default, deserialize_with = "de_listen_opt")]
    pub plaintext_listen: Option<SocketAddr>,
    /// Largest accepted request body in bytes (413 beyond). Default 10 MiB.
    pub max_body_bytes: usize,
    /// Seconds a client may take to send request headers. Default 10.
    pub header_read_timeout_secs: u64,
    /// Seconds a TLS handshake may take. Default 10.
    pub tls_handshake_timeout_secs: u64,
    /// Seconds a connection may stay without request activity before it is
    /// closed: no request being handled and none started, no request body
    /// or response body moving (keep-alive PINGs and other connection
    /// frames do not count). Default 60.
    pub idle_timeout_secs: u64,
    /// Seconds in-flight requests get to finish on shutdown. Default 10.
    pub shutdown_grace_secs: u64,
    /// Most established (TLS done) connections served at once. When all
    /// are taken, the connection idle the longest (no request open) is
    /// closed for the new one; if every one has a request open, the new
    /// one gets 503 `server_busy` with `Retry-After`. Default 1024.
    pub max_connections: usize,
    /// Most connections in their TLS handshake at once (a plaintext
    /// connection: until its first byte). They hold no established slot;
    /// when all are taken the oldest handshake is dropped for the new
    /// one. Default 256.
    pub max_handshakes: usize,
    /// Most handshakes in progress from one IP address; further
    /// connections from it are closed at once. Default 32.
    pub max_handshakes_per_ip: usize,
    /// Most sockets (handshaking and established) from one IP address;
    /// further connections from it are closed at once. Default 256.
    pub max_connections_per_ip: usize,
    /// Most concurrent HTTP/2 streams (requests) per connection. Default 32.
    pub http2_max_concurrent_streams: u32,
    /// Server-wide budget for request bodies being received or held by
    /// handlers, MiB. A body that does not fit gets 503 `server_busy` with
    /// `Retry-After`. Default 64.
    pub max_inflight_body_mib: u64,
    /// The same budget per connection (HTTP/2 multiplexes many bodies on
    /// one connection), MiB. Default 16.
    pub max_connection_body_mib: u64,
    /// Seconds a whole request body may take to arrive; past it the
    /// request gets 408 `request_timeout` and the connection is closed.
    /// Default 30.
    pub body_read_timeout_secs: u64,
    /// Name of the STIX identity SDO and MISP org the exports carry.
    pub identity_name: String,
    /// Where 403/429 bodies point users who need a bigger tier (empty: none).
    pub upgrade_url: String,
    /// Milliseconds a rendered read response (listings and exports) may be
    /// served again to an identical request (same route, query and tier
    /// lookback) while no IOC was written. 0 disables; at most 60000 (a
    /// tier's lookback window slides with the clock). Default 2000.
    pub response_cache_ms: u64,
    /// Memory budget of that cache in MiB. Default 32.
    pub response_cache_mib: u64,
}

/// `[storage]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Data directory: the sled store, TLS material. Default `./iocd-data`.
    pub data_dir: PathBuf,
    /// sled page cache of `iocd serve`, MiB. Listings, exports and TAXII
    /// pages read the store sequentially (a cache does not help them) and
    /// repeated reads hit the response cache, so a small one keeps the
    /// server lean. Default 8.
    pub cache_mib: u64,
    /// sled page cache of `iocd import`, MiB: bulk ingest looks every IOC
    /// up by id, which a larger cache speeds up (each MiB of cache costs
    /// about 2 MiB of RSS). Default 16.
    pub import_cache_mib: u64,
}

/// `[tls]`: certificate and key paths. Relative paths are under the data
/// directory. Missing files are generated (self-signed local CA + server
/// certificate) at `iocd init` or first start.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain (server certificate first).
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM of the local CA that signed a generated certificate: give it to
    /// clients (`curl --cacert`). Unused with your own certificates.
    pub ca: PathBuf,
    /// Extra DNS names / IPs for the generated certificate's SANs (always
    /// present: localhost, 127.0.0.1, ::1 and this host's name).
    pub extra_names: Vec<String>,
}

/// `[auth]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Failed authentication attempts allowed per client IP per minute
    /// before that IP gets 429 for the rest of the window. Default 30.
    /// Charged before any verification and given back when the key turns
    /// out valid, so concurrent attempts cannot overdraw it.
    pub failed_attempts_per_minute: u32,
    /// Milliseconds an address past its failed-auth budget waits for each
    /// further 429 (it was told `Retry-After` and keeps sending): a client
    /// that ignores it cannot turn cheap 429s into a CPU flood that slows
    /// everyone else. At most [`crate::http::ratelimit::MAX_HELD`] requests
    /// wait at once; past that they are answered at once. 0 = no pause.
    /// Default 1000, at most 10000.
    pub over_budget_delay_ms: u64,
    /// argon2 verifications (first use of a key, wrong secrets, unknown
    /// ids) running at once, server-wide; each takes ~19 MiB and one core
    /// for ~20-50 ms. 0 = the number of CPU cores. Default 0. Read at start.
    pub max_concurrent_verifications: usize,
    /// Verifications allowed to wait for a free slot; past that a request
    /// that needs one is answered 503 `server_busy` with `Retry-After` at
    /// once. Default 16. Read at start.
    pub max_queued_verifications: usize,
}

impl AuthConfig {
    /// [`AuthConfig::max_concurrent_verifications`] with 0 resolved to the
    /// number of CPU cores (at least 1).
    pub fn verification_slots(&self) -> usize {
        match self.max_concurrent_verifications {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        }
    }
}

/// A tier: token buckets, lookback and the scopes (formats) it allows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    /// Requests per minute (bucket capacity; refills continuously).
    pub requests_per_minute: u32,
    /// Requests per day (second bucket).
    pub requests_per_day: u32,
    /// How far back `since` may reach, in days.
    pub lookback_days: u32,
    /// Scopes a key of this tier may use; a key's own scopes are cut to these.
    pub scopes: Vec<String>,
}

/// A `[tiers.x]` table as written: every key optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TierPatch {
    requests_per_minute: Option<u32>,
    requests_per_day: Option<u32>,
    lookback_days: Option<u32>,
    scopes: Option<Vec<String>>,
}

fn de_tiers<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, TierConfig>, D::Error> {
    let patches: BTreeMap<String, TierPatch> = BTreeMap::deserialize(d)?;
    let defaults = default_tiers();
    let mut out = defaults.clone();
    for (name, p) in patches {
        let base = defaults
            .get(&name)
            .or_else(|| defaults.get("free"))
            .cloned()
            .unwrap_or(TierConfig {
                requests_per_minute: 10,
                requests_per_day: 1_000,
                lookback_days: 1,
                scopes: vec!["read:iocs".into()],
            });
        out.insert(
            name,
            TierConfig {
                requests_per_minute: p.requests_per_minute.unwrap_or(base.requests_per_minute),
                requests_per_day: p.requests_per_day.unwrap_or(base.requests_per_day),
                lookback_days: p.lookback_days.unwrap_or(base.lookback_days),
                scopes: p.scopes.unwrap_or(base.scopes),
            },
        );
    }
    Ok(out)
}

/// `[expiry]`: the lifetime of each IOC type in days, counted from its
/// `last_seen` (the latest sighting by any source); 0 = never expires. An
/// IOC is expired when `now >= last_seen + lifetime`: it is kept, but left
/// out of listings, exports, TAXII and rules unless the reader asks with
/// `include_expired=true` (see `crate::ioc::expiry`). Computed at read
/// time, so a change applies to every stored IOC at once (reload or
/// restart).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ExpiryConfig {
    /// Default 30.
    pub ipv4: u32,
    /// Default 30.
    pub ipv6: u32,
    /// Default 90.
    pub domain: u32,
    /// Default 60.
    pub url: u32,
    /// Default 90 (phishing senders rotate slower than hosting, faster than
    /// domains are re-registered).
    pub email: u32,
    /// Default 0: a file hash names the same file forever.
    pub md5: u32,
    /// Default 0.
    pub sha1: u32,
    /// Default 0.
    pub sha256: u32,
    /// Default 0.
    pub sha512: u32,
    /// Default 0: a vulnerability does not stop being one.
    pub cve: u32,
    /// Default 0: an ATT&CK technique is a behaviour, not infrastructure.
    pub mitre_attack: u32,
}

/// The longest lifetime `[expiry]` accepts, days (100 years).
pub const MAX_LIFETIME_DAYS: u32 = 36_500;

impl Default for ExpiryConfig {
    fn default() -> Self {
        ExpiryConfig {
            ipv4: 30,
            ipv6: 30,
            domain: 90,
            url: 60,
            email: 90,
            md5: 0,
            sha1: 0,
            sha256: 0,
            sha512: 0,
            cve: 0,
            mitre_attack: 0,
        }
    }
}

impl ExpiryConfig {
    /// No type expires (what test servers run with unless they opt in).
    pub fn never() -> ExpiryConfig {
        ExpiryConfig {
            ipv4: 0,
            ipv6: 0,
            domain: 0,
            url: 0,
            email: 0,
            ..ExpiryConfig::default()
        }
    }

    /// The lifetime of `t` in days (0: never).
    pub fn days(&self, t: crate::ioc::IocType) -> u32 {
        use crate::ioc::IocType as T;
        match t {
            T::Ipv4 => self.ipv4,
            T::Ipv6 => self.ipv6,
            T::Domain => self.domain,
            T::Url => self.url,
            T::Email => self.email,
            T::Md5 => self.md5,
            T::Sha1 => self.sha1,
            T::Sha256 => self.sha256,
            T::Sha512 => self.sha512,
            T::Cve => self.cve,
            T::MitreAttack => self.mitre_attack,
        }
    }

    /// The lifetimes the read paths apply.
    pub fn lifetimes(&self) -> crate::ioc::expiry::Lifetimes {
        crate::ioc::expiry::Lifetimes::from_days(|t| self.days(t))
    }
}

/// `[demo]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    /// Load generated demo IOCs when the store is empty at start.
    pub seed_when_empty: bool,
}

/// How `[inbox]` notices new drops.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WatchMode {
    /// inotify (via `notify`), falling back to polling when it cannot be
    /// set up; a rescan every `poll_secs` runs anyway (inotify can overflow).
    Auto,
    /// Only a scan every `poll_secs` (NFS or other mounts without inotify).
    Poll,
}

/// `[inbox]`: the drop directory imported by the running server
/// (`crate::ops::inbox`). Read at start (a change applies at the next
/// restart).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct InboxConfig {
    /// Watch the inbox while serving. Default true.
    pub enabled: bool,
    /// The inbox directory; relative paths are inside the data directory.
    /// Default `inbox` (`<data_dir>/inbox`).
    pub path: PathBuf,
    /// `auto` (inotify, polling as fallback) or `poll`. Default `auto`.
    pub watch: WatchMode,
    /// Seconds a drop's size and modification times (for a directory: the
    /// whole tree's) must stay unchanged before it is imported; a
    /// `<name>.done` marker imports at once. Default 10, 1 to 86400.
    pub settle_secs: u64,
    /// Seconds between scans (the only detection in `poll` mode, the safety
    /// net in `auto` mode). Default 5, 1 to 3600.
    pub poll_secs: u64,
    /// Source name given to IOCs whose file names no producer. Default
    /// `inbox`.
    pub source: String,
    /// Largest file of a drop, MiB; a drop holding a larger file fails
    /// unread. Default 2048 (the import limit), 1 to 2048.
    pub max_file_mib: u64,
    /// Days drops and reports are kept in `processed/` (0: forever);
    /// `failed/` is never pruned. Default 30.
    pub keep_days: u32,
}

impl Default for InboxConfig {
    fn default() -> Self {
        InboxConfig {
            enabled: true,
            path: PathBuf::from("inbox"),
            watch: WatchMode::Auto,
            settle_secs: 10,
            poll_secs: 5,
            source: "inbox".into(),
            max_file_mib: 2048,
            keep_days: 30,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            plaintext_listen: None,
            max_body_bytes: 10 * 1024 * 1024,
            header_read_timeout_secs: 10,
            tls_handshake_timeout_secs: 10,
            idle_timeout_secs: 60,
            shutdown_grace_secs: 10,
            max_connections: 1024,
            max_handshakes: 256,
            max_handshakes_per_ip: 32,
            max_connections_per_ip: 256,
            http2_max_concurrent_streams: 32,
            max_inflight_body_mib: 64,
            max_connection_body_mib: 16,
            body_read_timeout_secs: 30,
            identity_name: "iocd".into(),
            upgrade_url: String::new(),
            response_cache_ms: 2000,
            response_cache_mib: 32,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./iocd-data"),
            cache_mib: 8,
            import_cache_mib: 16,
        }
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert: PathBuf::from("tls/server.crt"),
            key: PathBuf::from("tls/server.key"),
            ca: PathBuf::from("tls/ca.crt"),
            extra_names: Vec::new(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            failed_attempts_per_minute: 30,
            over_budget_delay_ms: 1000,
            max_concurrent_verifications: 0,
            max_queued_verifications: 16,
        }
    }
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            seed_when_empty: true,
        }
    }
}

/// The spec's tier table: Free 10/min, 1,000/day, 1 day, JSON/CSV; Pro
/// 1,000/min, 1,000,000/day, 365 days, all formats.
pub fn default_tiers() -> BTreeMap<String, TierConfig> {
    let free = ["read:iocs", "read:stats", "read:articles"];
    let mut m = BTreeMap::new();
    m.insert(
        "free".to_string(),
        TierConfig {
            requests_per_minute: 10,
            requests_per_day: 1_000,
            lookback_days: 1,
            scopes: free.iter().map(|s| s.to_string()).collect(),
        },
    );
    m.insert(
        "pro".to_string(),
        TierConfig {
            requests_per_minute: 1_000,
            requests_per_day: 1_000_000,
            lookback_days: 365,
            scopes: ALL_SCOPES.iter().map(|s| s.to_string()).collect(),
        },
    );
    m
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            storage: StorageConfig::default(),
            tls: TlsConfig::default(),
            auth: AuthConfig::default(),
            expiry: ExpiryConfig::default(),
            tiers: default_tiers(),
            demo: DemoConfig::default(),
            inbox: InboxConfig::default(),
            feeds: Vec::new(),
            rules: RulesConfig::default(),
            articles: ArticlesConfig::default(),
        }
    }
}

/// A configuration error with its position in the file when known.
#[derive(Debug, thiserror::Error)]
#[error("{path}{pos}: {message}")]
pub struct ConfigError {
    pub path: String,
    /// `:line:column` or empty.
    pub pos: String,
    pub message: String,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// Finds the line of `key = ...` inside `[section]` (best effort) for
/// semantic errors found after parsing.
fn locate(text: &str, section: &str, key: &str) -> String {
    // A span-keeping parse finds the value however it is written: under a
    // `[section]` header (comments and all), as a dotted `section.key`, in
    // an inline table, with a quoted key.
    let Ok(doc) = toml_edit::ImDocument::parse(text) else {
        return String::new();
    };
    let mut item = doc.as_item();
    // A number indexes an array of tables (`feeds.2.url`).
    let mut in_array: Option<&toml_edit::Table> = None;
    for part in section.split('.').chain([key]).filter(|p| !p.is_empty()) {
        let next = match (in_array.take(), part.parse::<usize>(), item) {
            (Some(t), _, _) => t.get(part),
            (None, Ok(n), toml_edit::Item::ArrayOfTables(a)) => match a.get(n) {
                Some(t) => {
                    in_array = Some(t);
                    continue;
                }
                None => None,
            },
            _ => item.get(part),
        };
        match next {
            Some(i) => item = i,
            None => return String::new(),
        }
    }
    if let Some(t) = in_array {
        return t
            .span()
            .map(|s| format!(":{}", line_col(text, s.start).0))
            .unwrap_or_default();
    }
    let span = match item {
        toml_edit::Item::Value(v) => v.span(),
        toml_edit::Item::Table(t) => t.span(),
        other => other.span(),
    };
    span.map(|s| format!(":{}", line_col(text, s.start).0))
        .unwrap_or_default()
}

impl Config {
    /// Parses TOML text. `path` only labels errors.
    ///
    /// Errors: syntax, unknown keys, wrong types (with line:column), and the
    /// semantic checks of [`Config::validate`].
    pub fn parse(text: &str, path: &str) -> Result<Config, Vec<ConfigError>> {
        // Every error in one run: after an error, the lines of the value
        // it points at are blanked (same length, so later positions still
        // name the original lines) and the text parsed again. An error on
        // a table header ends the search (blanking it would move its keys
        // into the table above). The semantic checks then run on what
        // parsed, so type and semantic errors are reported together.
        const MAX_ERRORS: usize = 50;
        let mut work = text.as_bytes().to_vec();
        let mut errs: Vec<ConfigError> = Vec::new();
        loop {
            let current = String::from_utf8_lossy(&work).into_owned();
            match toml::from_str::<Config>(&current) {
                Ok(cfg) => {
                    let semantic = cfg.validate(text, path);
                    if errs.is_empty() && semantic.is_empty() {
                        return Ok(cfg);
                    }
                    errs.extend(semantic);
                    return Err(errs);
                }
                Err(e) => {
                    let span = e.span();
                    let pos = span
                        .as_ref()
                        .map(|s| {
                            let (l, c) = line_col(text, s.start);
                            format!(":{l}:{c}")
                        })
                        .unwrap_or_default();
                    // The toml crate leaves some lexer errors (a control
                    // character in a comment) without a message.
                    let message = match e.message().trim() {
                        "" => "invalid TOML syntax here (a control character, or a malformed key or value)".to_string(),
                        m => m.to_string(),
                    };
                    errs.push(ConfigError {
                        path: path.to_string(),
                        pos,
                        message,
                    });
                    let Some(span) = span else {
                        return Err(errs);
                    };
                    let start = work[..span.start.min(work.len())]
                        .iter()
                        .rposition(|&b| b == b'\n')
                        .map_or(0, |i| i + 1);
                    let end = work[span.end.min(work.len())..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(work.len(), |i| span.end + i);
                    let header =
                        work[start..end].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
                    if header || errs.len() >= MAX_ERRORS || start >= end {
                        return Err(errs);
                    }
                    for b in &mut work[start..end] {
                        if *b != b'\n' {
                            *b = b' ';
                        }
                    }
                }
            }
        }
    }

    /// Loads a config file; `None` gives the built-in defaults. The file
    /// must be a regular file of at most 1 MiB of UTF-8.
    pub fn load(path: Option<&Path>) -> Result<Config, Vec<ConfigError>> {
        let Some(p) = path else {
            return Ok(Config::default());
        };
        // A regular file of at most 1 MiB (crate::ops::files::read_capped).
        let err = |message: String| {
            vec![ConfigError {
                path: p.display().to_string(),
                pos: String::new(),
                message,
            }]
        };
        let bytes = crate::ops::files::read_capped(
            p,
            crate::ops::files::MAX_CONFIG_BYTES,
            "the config file",
        )
        .map_err(|e| err(format!("{e:#}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| err("the config file is not UTF-8 text".into()))?;
        Config::parse(&text, &p.display().to_string())
    }

    /// Semantic checks that types alone cannot express.
    pub fn validate(&self, text: &str, path: &str) -> Vec<ConfigError> {
        let mut errs = Vec::new();
        let mut err = |section: &str, key: &str, message: String| {
            errs.push(ConfigError {
                path: path.to_string(),
                pos: locate(text, section, key),
                message,
            })
        };
        let s = &self.server;
        if s.max_body_bytes < 1024 {
            err(
                "server",
                "max_body_bytes",
                "max_body_bytes must be at least 1024".into(),
            );
        }
        for (name, v) in [
            ("header_read_timeout_secs", s.header_read_timeout_secs),
            ("tls_handshake_timeout_secs", s.tls_handshake_timeout_secs),
            ("idle_timeout_secs", s.idle_timeout_secs),
            ("body_read_timeout_secs", s.body_read_timeout_secs),
        ] {
            if !(1..=86_400).contains(&v) {
                err(
                    "server",
                    name,
                    format!("{name} must be between 1 and 86400 seconds"),
                );
            }
        }
        for (name, v) in [
            ("max_connections", s.max_connections),
            ("max_handshakes", s.max_handshakes),
            ("max_handshakes_per_ip", s.max_handshakes_per_ip),
            ("max_connections_per_ip", s.max_connections_per_ip),
            (
                "http2_max_concurrent_streams",
                s.http2_max_concurrent_streams as usize,
            ),
        ] {
            if !(1..=1_000_000).contains(&v) {
                err(
                    "server",
                    name,
                    format!("{name} must be between 1 and 1000000"),
                );
            }
        }
        for (name, v) in [
            ("max_inflight_body_mib", s.max_inflight_body_mib),
            ("max_connection_body_mib", s.max_connection_body_mib),
        ] {
            if !(1..=65_536).contains(&v) {
                err(
                    "server",
                    name,
                    format!("{name} must be between 1 and 65536 (MiB)"),
                );
            }
        }
        if (s.max_body_bytes as u64) > s.max_connection_body_mib.min(s.max_inflight_body_mib) << 20
        {
            err(
                "server",
                "max_body_bytes",
                "max_body_bytes must fit in max_connection_body_mib and max_inflight_body_mib (a body larger than the budget could never be received)".into(),
            );
        }
        for (name, v) in [
            ("cache_mib", self.storage.cache_mib),
            ("import_cache_mib", self.storage.import_cache_mib),
        ] {
            if !(1..=65536).contains(&v) {
                err(
                    "storage",
                    name,
                    format!("{name} must be between 1 and 65536 (MiB)"),
                );
            }
        }
        if s.response_cache_ms > 60_000 {
            // A tier's lookback window slides with the clock; an entry kept
            // longer would show IOCs that have aged out of it.
            err(
                "server",
                "response_cache_ms",
                "response_cache_ms must be at most 60000 (one minute)".into(),
            );
        }
        if s.response_cache_mib > 4096 {
            err(
                "server",
                "response_cache_mib",
                "response_cache_mib must be at most 4096".into(),
            );
        }
        if s.identity_name.trim().is_empty() {
            err(
                "server",
                "identity_name",
                "identity_name must not be empty".into(),
            );
        }
        if Some(s.listen) == s.plaintext_listen {
            err(
                "server",
                "plaintext_listen",
                "plaintext_listen must differ from listen".into(),
            );
        }
        if self.auth.failed_attempts_per_minute == 0 {
            err(
                "auth",
                "failed_attempts_per_minute",
                "failed_attempts_per_minute must be at least 1".into(),
            );
        }
        if self.auth.over_budget_delay_ms > 10_000 {
            err(
                "auth",
                "over_budget_delay_ms",
                "over_budget_delay_ms must be at most 10000 (0: answer at once)".into(),
            );
        }
        if self.auth.max_concurrent_verifications > 1024 {
            err(
                "auth",
                "max_concurrent_verifications",
                "max_concurrent_verifications must be at most 1024 (0: the number of CPU cores)"
                    .into(),
            );
        }
        if self.auth.max_queued_verifications > 100_000 {
            err(
                "auth",
                "max_queued_verifications",
                "max_queued_verifications must be at most 100000".into(),
            );
        }
        let sid_base = self.rules.sid_base;
        if !(1..=crate::export::ids_rules::MAX_SID_BASE).contains(&sid_base) {
            err(
                "rules",
                "sid_base",
                format!(
                    "sid_base must be between 1 and {} (the rules use sid_base to sid_base + {})",
                    crate::export::ids_rules::MAX_SID_BASE,
                    crate::export::ids_rules::SID_SPAN - 1
                ),
            );
        }
        let ib = &self.inbox;
        for (name, v, max) in [
            ("settle_secs", ib.settle_secs, 86_400),
            ("poll_secs", ib.poll_secs, 3_600),
            ("max_file_mib", ib.max_file_mib, 2_048),
        ] {
            if !(1..=max).contains(&v) {
                err("inbox", name, format!("{name} must be between 1 and {max}"));
            }
        }
        if ib.source.trim().is_empty() {
            err("inbox", "source", "source must not be empty".into());
        }
        if ib.path.as_os_str().is_empty() {
            err(
                "inbox",
                "path",
                "path must not be empty (default: inbox, inside the data directory)".into(),
            );
        } else if ib
            .path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
        {
            err(
                "inbox",
                "path",
                "path must not contain '..' (give an absolute path instead)".into(),
            );
        } else if self.data_path(&ib.path) == self.storage.data_dir
            || self.data_path(&ib.path).starts_with(self.store_path())
        {
            err(
                "inbox",
                "path",
                "path must be a directory of its own, not the data directory or the store".into(),
            );
        }
        for t in crate::ioc::IocType::ALL {
            let days = self.expiry.days(t);
            if days > MAX_LIFETIME_DAYS {
                err(
                    "expiry",
                    t.as_str(),
                    format!(
                        "expiry.{}: {days} days is more than {MAX_LIFETIME_DAYS} (100 years); use 0 for never",
                        t.as_str()
                    ),
                );
            }
        }
        for (name, t) in &self.tiers {
            let sec = format!("tiers.{name}");
            if !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                err(
                    &sec,
                    "",
                    format!("tier name '{name}' may hold only letters, digits, '-' and '_'"),
                );
            }
            if t.requests_per_minute == 0 || t.requests_per_day == 0 {
                err(
                    &sec,
                    "requests_per_minute",
                    format!("tier '{name}': request limits must be at least 1"),
                );
            }
            if t.lookback_days == 0 {
                err(
                    &sec,
                    "lookback_days",
                    format!("tier '{name}': lookback_days must be at least 1"),
                );
            }
            for sc in &t.scopes {
                if !ALL_SCOPES.contains(&sc.as_str()) {
                    err(
                        &sec,
                        "scopes",
                        format!(
                            "tier '{name}': unknown scope '{sc}' (known: {})",
                            ALL_SCOPES.join(", ")
                        ),
                    );
                }
            }
        }
        crate::feeds::config::validate(&self.feeds, |i, key, message| {
            err(&format!("feeds.{i}"), key, message)
        });
        errs
    }

    /// A path from `[tls]`, resolved against the data directory.
    pub fn data_path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.storage.data_dir.join(p)
        }
    }

    /// The sled store directory inside the data directory.
    pub fn store_path(&self) -> PathBuf {
        self.storage.data_dir.join("store")
    }
}

/// The commented config `iocd init` writes. Every value shown is the default.
pub fn template(data_dir: &Path) -> String {
    let dd = data_dir
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    format!(
        r#"# iocd configuration. Every key is optional; the values shown are the defaults.
# Check it with: iocd check-config --config <this file>

[server]
# HTTPS listener: an IP literal and port (no host names: the static binary does no NSS lookups).
listen = "127.0.0.1:8443"
# Plaintext HTTP listener, off unless set. Only for a TLS-terminating proxy on the same host.
# plaintext_listen = "127.0.0.1:8080"
# Largest request body in bytes; larger bodies get 413.
max_body_bytes = 10485760
# Seconds a client may take to send its request headers / finish the TLS handshake.
header_read_timeout_secs = 10
tls_handshake_timeout_secs = 10
# Seconds a connection may stay without request activity (no request open, no body moving;
# keep-alive PINGs do not count) before it is closed.
idle_timeout_secs = 60
# Seconds a whole request body may take to arrive (408 past it).
body_read_timeout_secs = 30
# Seconds in-flight requests get to finish on SIGTERM/SIGINT.
shutdown_grace_secs = 10
# Established connections served at once. When all are taken the longest-idle one is closed
# for the new one; if all have requests open, the new one gets 503 with Retry-After.
max_connections = 1024
# Connections in their TLS handshake at once (they take no established slot; when all are
# taken the oldest handshake is dropped), and per client IP address.
max_handshakes = 256
max_handshakes_per_ip = 32
# Sockets (handshaking and established) per client IP address.
max_connections_per_ip = 256
# Concurrent HTTP/2 requests per connection.
http2_max_concurrent_streams = 32
# Memory for request bodies being received, server-wide and per connection, MiB
# (503 with Retry-After when full).
max_inflight_body_mib = 64
max_connection_body_mib = 16
# Name of the STIX identity and MISP org in exports.
identity_name = "iocd"
# Link shown in 403/429 error details (empty: none).
upgrade_url = ""
# Identical read requests (same route, query and tier) within this many milliseconds
# get the same rendered response, as long as no IOC was written meanwhile. 0: off.
response_cache_ms = 2000
# Memory budget of that response cache, MiB.
response_cache_mib = 32

[storage]
# The IOC store and the generated TLS material live here.
data_dir = "{dd}"
# sled page cache of the server, MiB (reads are sequential scans: small is enough).
cache_mib = 8
# sled page cache of `iocd import`, MiB (bulk dedupe lookups).
import_cache_mib = 16

[tls]
# Relative paths are inside data_dir. Missing files are generated at first start
# (a local CA plus a server certificate signed by it). Point these at your own CA's files to use them.
cert = "tls/server.crt"
key = "tls/server.key"
# Give this CA certificate to clients: curl --cacert <data_dir>/tls/ca.crt
ca = "tls/ca.crt"
# Extra DNS names or IPs for the generated certificate (localhost, 127.0.0.1, ::1 and the host name are always in).
extra_names = []

[auth]
# Failed authentication attempts per client IP per minute before that IP gets 429
# (charged before the key is checked, given back when it is valid).
failed_attempts_per_minute = 30
# Past that budget, each further 429 to that address is sent after this many milliseconds
# (it ignored Retry-After), so a flood of rejected requests cannot slow other clients. 0: at once.
over_budget_delay_ms = 1000
# argon2 key verifications (a key's first use, wrong secrets, unknown key ids) running at
# once, server-wide; each takes ~19 MiB and a core for ~20-50 ms. 0: the number of CPU cores.
max_concurrent_verifications = 0
# Verifications that may wait for a free slot; beyond that the request gets 503 with
# Retry-After at once. Both apply at the next restart.
max_queued_verifications = 16

[expiry]
# Days an IOC of each type stays live after its last sighting by any source (last_seen); 0: never.
# An expired IOC is kept (lookup shows it with "expired": true) but left out of listings, exports,
# TAXII and Sigma rules unless the request says include_expired=true (iocd export --include-expired).
# A new sighting revives it. Computed when read: a change applies to every stored IOC at once.
ipv4 = 30
ipv6 = 30
domain = 90
url = 60
email = 90
md5 = 0
sha1 = 0
sha256 = 0
sha512 = 0
cve = 0
mitre_attack = 0

# Tiers: per-minute and per-day token buckets, how far back `since` may reach, and the scopes
# (formats) a key of the tier may use. Scopes: {scopes}.
[tiers.free]
requests_per_minute = 10
requests_per_day = 1000
lookback_days = 1
scopes = ["read:iocs", "read:stats", "read:articles"]

[tiers.pro]
requests_per_minute = 1000
requests_per_day = 1000000
lookback_days = 365
scopes = [{all}]

[demo]
# Load generated demo IOCs when the store is empty at start, so every endpoint answers at once.
seed_when_empty = true

[inbox]
# Files or directories dropped here (any import format) are imported by the running server once
# complete, then moved to processed/ or failed/ beside a .report.json and .report.txt.
# Complete means: a "<name>.done" file appears beside the drop (imported at once), or its size and
# modification times stay unchanged for settle_secs. Names starting with "." and ending in .part,
# .tmp or ~ are in-progress copies and are left alone. Read at start.
enabled = true
# Relative paths are inside data_dir.
path = "inbox"
# "auto": inotify, polling if that cannot be set up. "poll": scan every poll_secs only (NFS).
watch = "auto"
settle_secs = 10
# Seconds between scans (in "auto" mode a safety net: inotify can overflow).
poll_secs = 5
# Source name for IOCs whose file names no producer (MISP Orgc, STIX created_by_ref).
source = "inbox"
# Largest file of a drop, MiB (a drop holding a larger file fails unread).
max_file_mib = 2048
# Days drops and their reports stay in processed/ (0: forever). failed/ is never pruned.
keep_days = 30

[rules]
# Suricata/Snort rule exports (GET /api/v1/rules/suricata|snort, iocd export --format suricata|snort).
# Rules get sids sid_base to sid_base + 99999999, stable per IOC; the default range is clear of
# the Talos (below 1000000, local rules from 1000000) and Emerging Threats (2000000-2999999) sids.
sid_base = 1000000000

[articles]
# IOC extraction from RSS/Atom items and report documents (iocd import feed.xml report.html).
# Values never extracted: IOC values, or domains (covering subdomains and URL/email hosts).
allow_list = ["mitre.org", "nist.gov", "cisa.gov", "first.org", "github.com", "githubusercontent.com", "virustotal.com", "twitter.com", "x.com", "linkedin.com", "youtube.com", "facebook.com", "wikipedia.org", "w3.org", "oasis-open.org", "ietf.org", "learn.microsoft.com", "docs.microsoft.com", "msrc.microsoft.com", "schemas.microsoft.com", "misp-project.org"]
# Domains of the publishers whose reports you import (never IOCs), besides each article's own link host.
publisher_domains = []

# Feeds pulled by `iocd serve` on a schedule (none by default). One [[feeds]] table per feed;
# name, url and format are required, the other keys show their defaults. See `iocd feeds status`.
# [[feeds]]
# name = "lan-misp"                       # unique; the source name of the feed's IOCs
# url = "https://misp.soc.lan/feeds/main" # http(s) URL, or a local file or directory
# format = "misp_feed"                    # csv, text, misp, misp_feed, stix, taxii, openioc, rss
# interval = "1h"                         # 30s, 15m, 1h, 1d (at least 1s); 0-10% jitter is added
# enabled = true
# confidence = 50                         # for IOCs the feed states none for (default: importer's)
# tags = []                               # added to every IOC of the feed
# tlp = "amber"                           # for IOCs the feed states none for (default: none)
# columns = []                            # CSV columns holding IOCs (as import --column)
# ca_file = "/etc/iocd/soc-ca.pem"        # extra CA for this feed's HTTPS server
# client_cert = "/etc/iocd/feed.crt"      # mutual TLS (with client_key)
# client_key = "/etc/iocd/feed.key"
# bearer_token_file = "/etc/iocd/token"   # Authorization: Bearer <first line of the file>
# api_key_file = "/etc/iocd/misp.key"     # or this key in api_key_header (MISP: "Authorization")
# api_key_header = "X-API-Key"
# username = "iocd"                       # or HTTP Basic (TAXII servers) with password_file
# password_file = "/etc/iocd/taxii.pw"
# timeout = "5m"                          # whole request, body included
# connect_timeout = "10s"
# max_bytes = 268435456                   # bytes downloaded per run, enforced while streaming
# max_redirects = 5
# page_size = 1000                        # TAXII objects per page
# max_pages = 1000                        # TAXII pages per run
"#,
        scopes = ALL_SCOPES.join(", "),
        all = ALL_SCOPES
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_to_defaults() {
        let t = template(Path::new("./iocd-data"));
        let c = Config::parse(&t, "t").unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn shipped_example_config_is_the_template() {
        let shipped = include_str!("../config/iocd.toml");
        assert_eq!(shipped, template(Path::new("/var/lib/iocd")));
    }

    /// Found by fuzz/config_file: a control character in a comment gave
    /// an error without a message.
    #[test]
    fn every_syntax_error_has_a_message() {
        for text in [
            "# a comment \u{1} with a control character\n",
            "a = \"\u{0}\"\n",
            "[server\n",
        ] {
            let errs = Config::parse(text, "iocd.toml").unwrap_err();
            assert!(!errs.is_empty(), "{text:?}");
            for e in errs {
                assert!(!e.message.trim().is_empty(), "{text:?}: {e:?}");
                assert!(!e.pos.is_empty(), "{text:?}: {e:?}");
            }
        }
    }

    #[test]
    fn empty_file_is_default() {
        assert_eq!(Config::parse("", "x").unwrap(), Config::default());
    }

    #[test]
    fn every_error_is_reported_in_one_run() {
        let text = "[server]\nlisten = \"nope\"\nmax_body_bytes = \"ten\"\nlistn = 1\n\n[tiers.x]\nrequests_per_minute = 0\nrequests_per_day = 1\nlookback_days = 1\nscopes = [\n  \"read:iocs\",\n  7,\n]\n";
        let e = Config::parse(text, "f").unwrap_err();
        let at: Vec<&str> = e.iter().map(|e| e.pos.as_str()).collect();
        // listen (type), max_body_bytes (type), listn (unknown), the
        // multi-line scopes array (type), then requests_per_minute = 0
        // (semantic, found once the rest parsed).
        assert_eq!(e.len(), 5, "{e:?}");
        assert!(at[0].starts_with(":2:"), "{at:?}");
        assert!(at[1].starts_with(":3:"), "{at:?}");
        assert!(at[2].starts_with(":4:"), "{at:?}");
        assert!(
            e[0].message.contains("not a listen address"),
            "{}",
            e[0].message
        );
        assert!(e.iter().any(|x| x.pos == ":7"), "{at:?}");
    }

    #[test]
    fn listen_accepts_ip_port_and_localhost_only() {
        assert_eq!(
            parse_listen("0.0.0.0:8443").unwrap().to_string(),
            "0.0.0.0:8443"
        );
        assert_eq!(parse_listen("[::1]:9").unwrap().to_string(), "[::1]:9");
        assert_eq!(
            parse_listen("localhost:8443").unwrap().to_string(),
            "127.0.0.1:8443"
        );
        assert_eq!(
            parse_listen("LOCALHOST:1").unwrap().to_string(),
            "127.0.0.1:1"
        );
        let e = parse_listen("iocd.soc.lan:8443").unwrap_err();
        assert!(
            e.contains("not an IP address") && e.contains("127.0.0.1:8443"),
            "{e}"
        );
        assert!(parse_listen("localhost:99999")
            .unwrap_err()
            .contains("not a port"));
        assert!(parse_listen("8443")
            .unwrap_err()
            .contains("expected IP:PORT"));
        let c = Config::parse("[server]\nlisten = \"localhost:9443\"\n", "f").unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:9443");
    }

    #[test]
    fn errors_carry_lines() {
        let e = Config::parse("[server]\nlisten = \"nope\"\n", "f.toml").unwrap_err();
        assert_eq!(e[0].pos, ":2:10");
        assert!(e[0].to_string().starts_with("f.toml:2:10:"), "{}", e[0]);
        let e = Config::parse("[server]\nlistn = \"1.2.3.4:1\"\n", "f").unwrap_err();
        assert!(e[0].message.contains("unknown field"), "{}", e[0].message);
        assert_eq!(e[0].pos, ":2:1");
        let e = Config::parse("[tiers.x]\nrequests_per_minute = 0\nrequests_per_day = 1\nlookback_days = 1\nscopes = [\"read:nope\"]\n", "f").unwrap_err();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].pos, ":2");
        assert_eq!(e[1].pos, ":5");
        // Any TOML spelling of the key is found.
        for (text, line) in [
            ("[storage]  # the store\ncache_mib = 0\n", ":2"),
            ("# top\n\nstorage.cache_mib = 0\n", ":3"),
            ("storage = { cache_mib = 0 }\n", ":1"),
            ("[storage]\n\"cache_mib\" = 0\n", ":2"),
            (
                "[server]\nlisten = \"127.0.0.1:1\"\n\n[ storage ]\nimport_cache_mib = 0\n",
                ":5",
            ),
        ] {
            let e = Config::parse(text, "f").unwrap_err();
            assert_eq!(e[0].pos, line, "{text}");
        }
    }

    #[test]
    fn connection_and_body_limits_are_checked() {
        for (text, needle) in [
            ("[server]\nmax_handshakes = 0\n", "max_handshakes must be"),
            (
                "[server]\nmax_connections_per_ip = 0\n",
                "max_connections_per_ip must be",
            ),
            (
                "[server]\nbody_read_timeout_secs = 0\n",
                "body_read_timeout_secs must be",
            ),
            (
                "[server]\nmax_inflight_body_mib = 0\n",
                "max_inflight_body_mib must be",
            ),
            (
                "[server]\nmax_body_bytes = 33554432\n",
                "max_body_bytes must fit in max_connection_body_mib",
            ),
        ] {
            let e = Config::parse(text, "f").unwrap_err();
            assert!(
                e.iter().any(|e| e.message.contains(needle)),
                "{text}: {e:?}"
            );
            assert_eq!(e[0].pos, ":2", "{text}");
        }
        let c = Config::parse("[server]\nmax_handshakes_per_ip = 4\n", "f").unwrap();
        assert_eq!(c.server.max_handshakes_per_ip, 4);
        assert_eq!(c.server.max_connections_per_ip, 256);
    }

    #[test]
    fn inbox_settings_are_checked() {
        for (text, needle) in [
            (
                "[inbox]\nsettle_secs = 0\n",
                "settle_secs must be between 1 and 86400",
            ),
            (
                "[inbox]\npoll_secs = 7200\n",
                "poll_secs must be between 1 and 3600",
            ),
            (
                "[inbox]\nmax_file_mib = 4096\n",
                "max_file_mib must be between 1 and 2048",
            ),
            ("[inbox]\nsource = \" \"\n", "source must not be empty"),
            (
                "[inbox]\npath = \"../elsewhere\"\n",
                "must not contain '..'",
            ),
            (
                "[inbox]\npath = \"store/x\"\n",
                "not the data directory or the store",
            ),
        ] {
            let e = Config::parse(text, "f").unwrap_err();
            assert!(e[0].message.contains(needle), "{text}: {e:?}");
            assert_eq!(e[0].pos, ":2", "{text}");
        }
        let e = Config::parse("[inbox]\nwatch = \"fanotify\"\n", "f").unwrap_err();
        assert!(e[0].message.contains("unknown variant"), "{e:?}");
        let c = Config::parse("[inbox]\nwatch = \"poll\"\nkeep_days = 0\n", "f").unwrap();
        assert_eq!(c.inbox.watch, WatchMode::Poll);
        assert_eq!(c.inbox.settle_secs, 10);
        assert_eq!(
            c.data_path(&c.inbox.path),
            PathBuf::from("./iocd-data/inbox")
        );
    }

    #[test]
    fn feeds_are_checked_with_their_lines() {
        let text = "[[feeds]]\nname = \"a\"\nurl = \"https://intel.example/x.csv\"\nformat = \"csv\"\n\n\
            [[feeds]]\nname = \"a\"\nurl = \"ftp://intel.example/\"\nformat = \"text\"\ninterval = \"0s\"\ntlp = \"purple\"\n";
        let e = Config::parse(text, "f").unwrap_err();
        let msgs: Vec<String> = e
            .iter()
            .map(|e| format!("{}{}", e.pos, e.message))
            .collect();
        for needle in [
            ":7feed name 'a' is used twice",
            ":8feed 'a': only http://, https:// URLs or a local path",
            ":10feed 'a': interval must be between 1s and 30d",
            ":11feed 'a': unknown TLP 'purple'",
        ] {
            assert!(
                msgs.iter().any(|m| m.starts_with(needle)),
                "{needle}: {msgs:?}"
            );
        }
        let e = Config::parse(
            "[[feeds]]\nname = \"x\"\nurl = \"/srv/x\"\nformat = \"csvx\"\n",
            "f",
        )
        .unwrap_err();
        assert_eq!(e[0].pos, ":4:10", "{e:?}");
        let c = Config::parse(
            "[[feeds]]\nname = \"x\"\nurl = \"/srv/not-yet\"\nformat = \"text\"\n",
            "f",
        )
        .unwrap();
        assert_eq!(c.feeds[0].interval().as_secs(), 3600);
        assert!(c.feeds[0].enabled);
    }

    #[test]
    fn partial_tier_tables_fill_from_defaults() {
        let c = Config::parse(
            "[tiers.free]\nrequests_per_minute = 20\n[tiers.soc]\nlookback_days = 30\n",
            "f",
        )
        .unwrap();
        assert_eq!(c.tiers["free"].requests_per_minute, 20);
        assert_eq!(c.tiers["free"].requests_per_day, 1_000);
        assert_eq!(c.tiers["soc"].lookback_days, 30);
        assert_eq!(c.tiers["soc"].requests_per_minute, 10);
        assert_eq!(c.tiers["pro"].requests_per_minute, 1_000);
        let e = Config::parse("[tiers.free]\nrequests_per_minut = 20\n", "f").unwrap_err();
        assert!(e[0].message.contains("unknown field"), "{}", e[0].message);
    }

    #[test]
    fn tier_override_keeps_other_defaults() {
        let c = Config::parse("[tiers.free]\nrequests_per_minute = 2\nrequests_per_day = 5\nlookback_days = 1\nscopes = [\"read:iocs\"]\n", "f").unwrap();
        assert_eq!(c.tiers["free"].requests_per_minute, 2);
        assert_eq!(c.tiers["pro"].requests_per_minute, 1000);
    }

    #[test]
    fn expiry_lifetimes_are_checked_and_named() {
        let c = Config::parse("[expiry]\nipv4 = 7\nsha256 = 0\n", "f").unwrap();
        assert_eq!(c.expiry.lifetimes().days(crate::ioc::IocType::Ipv4), 7);
        assert_eq!(c.expiry.url, 60);
        let e = Config::parse("[expiry]\nurl = 36501\n", "f").unwrap_err();
        assert_eq!(e[0].pos, ":2");
        assert!(e[0].message.contains("expiry.url"), "{}", e[0].message);
        let e = Config::parse("[expiry]\nhash = 1\n", "f").unwrap_err();
        assert!(e[0].message.contains("unknown field"), "{}", e[0].message);
        let e = Config::parse("[expiry]\nipv4 = -1\n", "f").unwrap_err();
        assert_eq!(e[0].pos, ":2:8");
    }
}
