//! HTTP(S) downloads of a feed, with every cap a hostile server could try
//! to get around.
//!
//! reqwest's blocking client (rustls, no OpenSSL: the binary stays
//! static) runs on the scheduler's blocking thread, so the feed code reads
//! top to bottom and is the same in `iocd serve` and in an offline
//! `iocd feeds run`. Per feed:
//! - trust: the public roots plus the feed's `ca_file`; `client_cert` +
//!   `client_key` for mutual TLS;
//! - auth: a bearer token, an API key header, or Basic, each read from a
//!   file at client build time and never logged (`Debug` of the client
//!   does not print header values: they are marked sensitive);
//! - time: `connect_timeout`, and `timeout` for the whole request — reqwest
//!   bounds each wait, and [`FeedClient::get`] also checks the deadline
//!   between reads, so a server trickling a byte every few seconds is cut
//!   off too;
//! - size: `max_bytes` for the whole run, checked against
//!   `Content-Length` up front and enforced while streaming to the staged
//!   file (never buffered whole in memory);
//! - redirects: at most `max_redirects`; a loop fails with that message;
//! - names: resolved by hickory (`/etc/hosts`, then the servers of
//!   `/etc/resolv.conf`), not glibc's `getaddrinfo`, which in a static
//!   binary would load the host's NSS modules.

use super::config::FeedConfig;
use anyhow::{anyhow, bail, Context, Result};
use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, HeaderValue};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// A client configured for one feed.
pub struct FeedClient {
    client: Client,
    timeout: Duration,
    max_redirects: usize,
}

/// The answer to a conditional GET.
pub enum Fetched {
    /// 304: nothing changed since the cursor's ETag / Last-Modified.
    NotModified,
    /// 2xx, body written to the destination file.
    Body {
        etag: Option<String>,
        last_modified: Option<String>,
        /// Response headers (TAXII reads `X-TAXII-Date-Added-Last`).
        headers: HeaderMap,
        /// Bytes written.
        bytes: u64,
    },
}

/// Reads a secret file: its first line, trimmed; refused when empty.
fn secret(path: &Path, what: &str) -> Result<String> {
    let b = crate::ops::files::read_capped(path, 64 * 1024, what)?;
    let s =
        String::from_utf8(b).map_err(|_| anyhow!("{what} {} is not UTF-8 text", path.display()))?;
    let s = s.lines().next().unwrap_or("").trim().to_string();
    if s.is_empty() {
        bail!("{what} {} is empty", path.display());
    }
    Ok(s)
}

fn sensitive(v: String, what: &str) -> Result<HeaderValue> {
    let mut h = HeaderValue::from_str(&v)
        .map_err(|_| anyhow!("{what} holds characters not allowed in an HTTP header"))?;
    h.set_sensitive(true);
    Ok(h)
}

impl FeedClient {
    /// Builds the client of `f` (reads its CA, client certificate and
    /// secret files). Errors name the file at fault.
    pub fn new(f: &FeedConfig) -> Result<FeedClient> {
        let mut headers = HeaderMap::new();
        if let Some(p) = &f.bearer_token_file {
            let t = secret(p, "bearer_token_file")?;
            headers.insert(
                reqwest::header::AUTHORIZATION,
                sensitive(format!("Bearer {t}"), "bearer_token_file")?,
            );
        }
        if let Some(p) = &f.api_key_file {
            let k = secret(p, "api_key_file")?;
            let name = reqwest::header::HeaderName::from_bytes(f.api_key_header.as_bytes())
                .map_err(|_| {
                    anyhow!("api_key_header '{}' is not a header name", f.api_key_header)
                })?;
            headers.insert(name, sensitive(k, "api_key_file")?);
        }
        if let (Some(u), Some(p)) = (&f.username, &f.password_file) {
            use base64::Engine;
            let pw = secret(p, "password_file")?;
            let b = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{pw}"));
            headers.insert(
                reqwest::header::AUTHORIZATION,
                sensitive(format!("Basic {b}"), "password_file")?,
            );
        }
        let mut b = Client::builder()
            .use_rustls_tls()
            // Host names through hickory, not getaddrinfo: see Cargo.toml.
            .hickory_dns(true)
            .user_agent(concat!("iocd/", env!("CARGO_PKG_VERSION"), " (feed)"))
            .default_headers(headers)
            .connect_timeout(f.connect_timeout())
            .timeout(f.timeout())
            .redirect(reqwest::redirect::Policy::limited(f.max_redirects))
            // Compressed bodies would get around the byte cap's meaning
            // (a small gzip can expand a thousandfold): ask for identity.
            .no_gzip();
        if let Some(ca) = &f.ca_file {
            let pem = crate::ops::files::read_capped(ca, 1 << 20, "ca_file")?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("ca_file {}: not PEM certificates", ca.display()))?;
            if certs.is_empty() {
                bail!("ca_file {} holds no certificate", ca.display());
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        if let (Some(cert), Some(key)) = (&f.client_cert, &f.client_key) {
            let mut pem = crate::ops::files::read_capped(cert, 1 << 20, "client_cert")?;
            pem.push(b'\n');
            pem.extend(crate::ops::files::read_capped(key, 1 << 20, "client_key")?);
            let id = reqwest::Identity::from_pem(&pem).with_context(|| {
                format!(
                    "client_cert {} / client_key {}: not a PEM certificate and private key",
                    cert.display(),
                    key.display()
                )
            })?;
            b = b.identity(id);
        }
        Ok(FeedClient {
            client: b.build().context("building the HTTP client")?,
            timeout: f.timeout(),
            max_redirects: f.max_redirects,
        })
    }

    /// GETs `url` into `dest` (created or truncated). `etag` /
    /// `last_modified` make it conditional; `accept` sets `Accept`;
    /// `budget` is the bytes this run may still download and is decreased
    /// by what was written. Errors: connection, TLS, timeout, redirect
    /// limit, non-2xx status, a body over the budget — each as one line fit
    /// for the feed's `last_error`.
    pub fn get(
        &self,
        url: &str,
        etag: Option<&str>,
        last_modified: Option<&str>,
        accept: Option<&str>,
        dest: &Path,
        budget: &mut u64,
    ) -> Result<Fetched> {
        let started = Instant::now();
        let mut req = self.client.get(url);
        if let Some(e) = etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, e);
        }
        if let Some(l) = last_modified {
            req = req.header(reqwest::header::IF_MODIFIED_SINCE, l);
        }
        if let Some(a) = accept {
            req = req.header(reqwest::header::ACCEPT, a);
        }
        let resp = req.send().map_err(|e| self.describe(e, url))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            bail!("HTTP {status} from {}", shown(resp.url().as_str()));
        }
        if let Some(len) = resp.content_length() {
            if len > *budget {
                bail!(
                    "the response is {len} bytes, over the feed's size cap (max_bytes; {} bytes left this run)",
                    *budget
                );
            }
        }
        let headers = resp.headers().clone();
        let header = |n: reqwest::header::HeaderName| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let etag = header(reqwest::header::ETAG);
        let last_modified = header(reqwest::header::LAST_MODIFIED);
        let bytes = self.stream(resp, dest, budget, started, url)?;
        Ok(Fetched::Body {
            etag,
            last_modified,
            headers,
            bytes,
        })
    }

    /// Copies the body to `dest`, at most `budget` bytes, before the
    /// deadline.
    fn stream(
        &self,
        mut resp: Response,
        dest: &Path,
        budget: &mut u64,
        started: Instant,
        url: &str,
    ) -> Result<u64> {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(dest).with_context(|| format!("creating {}", dest.display()))?,
        );
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            if started.elapsed() > self.timeout {
                bail!(
                    "timed out after {} s reading {} (timeout)",
                    self.timeout.as_secs(),
                    shown(url)
                );
            }
            let n = match resp.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let timed_out = e.kind() == std::io::ErrorKind::TimedOut
                        || format!("{e:?}").contains("TimedOut")
                        || started.elapsed() >= self.timeout;
                    if timed_out {
                        bail!(
                            "timed out after {} s reading {} (timeout)",
                            self.timeout.as_secs(),
                            shown(url)
                        );
                    }
                    bail!("reading the body of {}: {e}", shown(url));
                }
            };
            total += n as u64;
            if total > *budget {
                bail!(
                    "the download passed the feed's size cap (max_bytes) after {total} bytes; stopped"
                );
            }
            out.write_all(&buf[..n])
                .with_context(|| format!("writing {}", dest.display()))?;
        }
        out.flush()
            .with_context(|| format!("writing {}", dest.display()))?;
        *budget -= total;
        Ok(total)
    }

    /// One line for a request that got no response.
    fn describe(&self, e: reqwest::Error, url: &str) -> anyhow::Error {
        let u = shown(url);
        if e.is_redirect() {
            return anyhow!(
                "redirect limit reached ({} redirects; a redirect loop?) fetching {u}",
                self.max_redirects
            );
        }
        if e.is_timeout() {
            return anyhow!(
                "timed out after {} s fetching {u} (timeout)",
                self.timeout.as_secs()
            );
        }
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        if e.is_connect() {
            return anyhow!("cannot connect to {u}: {msg}");
        }
        anyhow!("fetching {u}: {msg}")
    }
}

/// A URL without user info or query, for messages.
pub fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        Err(_) => "(invalid URL)".into(),
    }
}
