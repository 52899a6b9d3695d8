//! The extraction settings in force (`[articles]`), shared by every
//! import path (CLI, control socket, inbox, feeds). Set at start by
//! [`set`] and again on a SIGHUP reload.

use crate::config::ArticlesConfig;
use crate::ioc::extract::ExtractOptions;
use std::sync::RwLock;

/// Reference sites reports link to (documentation, advisories, code
/// hosting, social media), never extracted by default. `[articles]
/// allow_list` replaces the list.
pub const DEFAULT_ALLOW_LIST: &[&str] = &[
    "mitre.org",
    "nist.gov",
    "cisa.gov",
    "first.org",
    "github.com",
    "githubusercontent.com",
    "virustotal.com",
    "twitter.com",
    "x.com",
    "linkedin.com",
    "youtube.com",
    "facebook.com",
    "wikipedia.org",
    "w3.org",
    "oasis-open.org",
    "ietf.org",
    "learn.microsoft.com",
    "docs.microsoft.com",
    "msrc.microsoft.com",
    "schemas.microsoft.com",
    "misp-project.org",
];

static CURRENT: RwLock<Option<ExtractOptions>> = RwLock::new(None);

/// Installs `[articles]` for every later import.
pub fn set(cfg: &ArticlesConfig) {
    let opts = ExtractOptions {
        publisher_domains: cfg.publisher_domains.clone(),
        allow_list: cfg.allow_list.clone(),
    };
    *CURRENT.write().unwrap_or_else(|p| p.into_inner()) = Some(opts);
}

/// The options in force: those [`set`] last, else the defaults of
/// [`ArticlesConfig`].
pub fn extract_options() -> ExtractOptions {
    if let Some(o) = CURRENT.read().unwrap_or_else(|p| p.into_inner()).clone() {
        return o;
    }
    let d = ArticlesConfig::default();
    ExtractOptions {
        publisher_domains: d.publisher_domains,
        allow_list: d.allow_list,
    }
}
