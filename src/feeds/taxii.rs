//! TAXII 2.1 client: polls one collection's `objects/` URL (§5.4).
//!
//! Each run asks for objects added after the previous run's last
//! `X-TAXII-Date-Added-Last` (§3.4: `added_after` is exclusive, so nothing
//! is received twice) and follows `more`/`next` (§3.7) until the server
//! says there is no more, or `max_pages` is reached (the rest comes next
//! run, from the last page's date). Each page's objects are staged as a
//! STIX bundle file, so they go through the same STIX importer as a bundle
//! feed. The cursor advances only when the whole run imported (see
//! `status::Cursor`).
//!
//! A server that sends no `X-TAXII-Date-Added-Last` cannot be polled
//! incrementally: each run then fetches the collection again (logged),
//! and the merge rule keeps the store as it was for what did not change.

use super::config::FeedConfig;
use super::fetch::{FeedClient, Fetched};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `Accept` of TAXII 2.1 requests (§1.6.8.1).
pub const ACCEPT: &str = "application/taxii+json;version=2.1";

/// What a poll brought.
pub struct Polled {
    /// Staged bundle files, in page order.
    pub files: Vec<PathBuf>,
    /// Objects received over all pages.
    pub objects: u64,
    /// Bytes downloaded.
    pub bytes: u64,
    /// The `added_after` for the next run (unchanged when no page had
    /// objects).
    pub added_after: Option<String>,
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> Result<String> {
    let mut u = reqwest::Url::parse(base).context("the feed URL")?;
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    Ok(u.to_string())
}

/// Polls `f.url` from `added_after`, staging pages in `dir`; `budget` is
/// the run's remaining byte cap.
pub fn poll(
    f: &FeedConfig,
    client: &FeedClient,
    added_after: Option<&str>,
    dir: &Path,
    budget: &mut u64,
) -> Result<Polled> {
    let mut out = Polled {
        files: Vec::new(),
        objects: 0,
        bytes: 0,
        added_after: added_after.map(str::to_string),
    };
    let limit = f.page_size.to_string();
    let mut next: Option<String> = None;
    for page in 0..f.max_pages {
        let mut q: Vec<(&str, &str)> = vec![("limit", &limit)];
        if let Some(a) = added_after {
            q.push(("added_after", a));
        }
        if let Some(n) = &next {
            q.push(("next", n));
        }
        let url = with_query(&f.url, &q)?;
        let raw = dir.join(format!("page-{page:05}.raw"));
        let before = *budget;
        let (headers, _) = match client.get(&url, None, None, Some(ACCEPT), &raw, budget)? {
            Fetched::Body { headers, bytes, .. } => (headers, bytes),
            Fetched::NotModified => {
                bail!("the TAXII server answered 304 to an unconditional request")
            }
        };
        out.bytes += before - *budget;
        let body = std::fs::read(&raw).with_context(|| format!("reading {}", raw.display()))?;
        let _ = std::fs::remove_file(&raw);
        let env: Value = serde_json::from_slice(&body).map_err(|e| {
            anyhow::anyhow!(
                "page {} is not a TAXII envelope: invalid JSON ({e})",
                page + 1
            )
        })?;
        let Some(obj) = env.as_object() else {
            bail!(
                "page {} is not a TAXII envelope (a JSON object with `objects`)",
                page + 1
            );
        };
        let objects = match obj.get("objects") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => bail!("page {}: `objects` is not an array", page + 1),
        };
        let more = obj.get("more").and_then(Value::as_bool).unwrap_or(false);
        if !objects.is_empty() {
            out.objects += objects.len() as u64;
            let bundle = serde_json::json!({
                "type": "bundle",
                "id": format!("bundle--{}", uuid::Uuid::new_v4()),
                "objects": objects,
            });
            let p = dir.join(format!("page-{page:05}.json"));
            std::fs::write(&p, serde_json::to_vec(&bundle)?)
                .with_context(|| format!("writing {}", p.display()))?;
            out.files.push(p);
            match headers
                .get("x-taxii-date-added-last")
                .and_then(|v| v.to_str().ok())
            {
                Some(last) => out.added_after = Some(last.to_string()),
                None if page == 0 => tracing::warn!(
                    feed = %f.name,
                    "the TAXII server sends no X-TAXII-Date-Added-Last: every run fetches the whole collection"
                ),
                None => {}
            }
        }
        next = obj.get("next").and_then(Value::as_str).map(str::to_string);
        if !more {
            break;
        }
        if next.is_none() && out.added_after.as_deref() == added_after {
            // `more` without `next` and no date to resume from: stop
            // rather than ask for the same page for ever.
            bail!("page {}: `more` is true but there is neither `next` nor X-TAXII-Date-Added-Last to continue from", page + 1);
        }
        if next.is_none() {
            // Resume by date (servers that page by added_after only).
            return poll_rest(f, client, out, dir, budget, page + 1);
        }
    }
    Ok(out)
}

/// Continues a poll by `added_after` alone from `out.added_after`.
fn poll_rest(
    f: &FeedConfig,
    client: &FeedClient,
    mut out: Polled,
    dir: &Path,
    budget: &mut u64,
    pages_done: u32,
) -> Result<Polled> {
    if pages_done >= f.max_pages {
        return Ok(out);
    }
    let sub = dir.join(format!("rest-{pages_done:05}"));
    std::fs::create_dir_all(&sub)?;
    let mut g = f.clone();
    g.max_pages = f.max_pages - pages_done;
    let rest = poll(&g, client, out.added_after.clone().as_deref(), &sub, budget)?;
    out.files.extend(rest.files);
    out.objects += rest.objects;
    out.bytes += rest.bytes;
    out.added_after = rest.added_after;
    Ok(out)
}
