//! Scheduled feeds (`[[feeds]]`, issue #13 item 2): `iocd serve` pulls
//! each enabled feed on its interval and imports it with the feed's name as
//! source; `GET /api/v1/feeds` and `iocd feeds status|run` show and drive
//! them.
//!
//! | file | does |
//! |------|------|
//! | [`config`] | the `[[feeds]]` table and its check-config rules |
//! | [`fetch`] | HTTP(S) with per-feed trust, auth, time and size caps |
//! | [`taxii`] | TAXII 2.1 polling by `added_after` with `next` paging |
//! | [`misp_feed`] | MISP feed directories (`manifest.json`) |
//! | [`run`] | one run: fetch, stage, import through `iocd import`'s path |
//! | [`status`] | per-feed cursor and status, `<data_dir>/feeds/state.json` |
//!
//! ## Why it is built this way
//! - **Isolation.** Each feed is its own tokio task that only sleeps; the
//!   run itself (network, parsing, ingest) happens on a blocking thread,
//!   so a slow or hostile feed holds one thread, never the reactor that
//!   serves the API. Every failure of a run ends up as that feed's
//!   `last_error`; nothing it does reaches another feed's state. At most
//!   [`MAX_CONCURRENT_RUNS`] runs go at once (a 2-core appliance also
//!   serves SIEMs), and at most one run of a given feed (a manual
//!   `iocd feeds run` waits for a scheduled one to finish).
//! - **Schedule.** A feed runs `interval` after its last run (also across
//!   restarts: the last run time is in the state file), plus 0-10 %
//!   jitter so feeds configured alike do not fire together. A failed run
//!   is retried after 30 s, doubling per consecutive failure, never later
//!   than `interval`, with jitter.
//! - **Incremental.** ETag / Last-Modified (304 imports nothing), a local
//!   file's size and mtime, TAXII's `X-TAXII-Date-Added-Last`, and MISP
//!   manifest timestamps; each saved only by a run that imported, so a
//!   failure is fetched again.
//! - **One import path.** Downloads are staged as files and handed to
//!   [`crate::cli::import_cmd::import`]; the feed's name is forced as the
//!   IOCs' source through [`crate::import::FeedDefaults`].
//! - **Reach.** The running scheduler is registered once per process
//!   ([`registry`]) so the HTTP handler and the control socket thread
//!   reach it without widening `AppState` or the control socket's API.
//! - **Reload.** On SIGHUP, feeds whose table changed are rescheduled with
//!   the new settings, removed ones stop and new ones start; a run in
//!   progress finishes with the settings it started with.

pub mod config;
pub mod fetch;
pub mod misp_feed;
pub mod run;
pub mod status;
pub mod taxii;

pub use config::{FeedConfig, FeedFormat};

use crate::store::Store;
use chrono::{SecondsFormat, Utc};
use rand::Rng;
use serde_json::{json, Value};
use status::{FeedStatus, StateFile};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Feed runs at once, process-wide.
pub const MAX_CONCURRENT_RUNS: usize = 2;
/// First retry delay after a failure (doubled per further failure).
const RETRY_FIRST: Duration = Duration::from_secs(30);

fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A counting semaphore for blocking threads.
struct Slots {
    free: Mutex<usize>,
    cv: Condvar,
}

impl Slots {
    fn acquire(&self) -> SlotGuard<'_> {
        let mut n = lock(&self.free);
        while *n == 0 {
            n = self.cv.wait(n).unwrap_or_else(|p| p.into_inner());
        }
        *n -= 1;
        SlotGuard(self)
    }
}

struct SlotGuard<'a>(&'a Slots);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        *lock(&self.0.free) += 1;
        self.0.cv.notify_one();
    }
}

/// Runs feeds against one store and keeps their state file; shared by the
/// scheduler and an offline `iocd feeds run`.
pub struct Runner {
    store: Arc<Store>,
    data_dir: PathBuf,
    state: Mutex<StateFile>,
    per_feed: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    slots: Slots,
}

impl Runner {
    /// A runner over `store`, with the state file of `data_dir`.
    pub fn new(store: Arc<Store>, data_dir: &Path) -> Runner {
        Runner {
            store,
            data_dir: data_dir.to_path_buf(),
            state: Mutex::new(StateFile::load(data_dir)),
            per_feed: Mutex::new(HashMap::new()),
            slots: Slots {
                free: Mutex::new(MAX_CONCURRENT_RUNS),
                cv: Condvar::new(),
            },
        }
    }

    /// The status of `name` now.
    pub fn status(&self, name: &str) -> FeedStatus {
        lock(&self.state)
            .feeds
            .get(name)
            .map(|s| s.status.clone())
            .unwrap_or_default()
    }

    fn update(&self, name: &str, f: impl FnOnce(&mut status::FeedState)) {
        let mut st = lock(&self.state);
        f(st.feeds.entry(name.to_string()).or_default());
        if let Err(e) = st.save(&self.data_dir) {
            tracing::error!(
                error = format!("{e:#}"),
                "feeds: cannot save the state file"
            );
        }
    }

    /// Runs `f` once now (blocking: call it off the reactor), waiting for a
    /// free run slot and for a run of the same feed in progress. Returns
    /// the feed's status afterwards; `last_result` is `failed` when the run
    /// failed.
    pub fn run(&self, f: &FeedConfig) -> FeedStatus {
        if let Err(e) = run::check_name(&f.name) {
            return FeedStatus {
                last_result: "failed".into(),
                last_error: Some(e.to_string()),
                ..FeedStatus::default()
            };
        }
        let feed_lock = lock(&self.per_feed)
            .entry(f.name.clone())
            .or_default()
            .clone();
        let _one = lock(&feed_lock);
        let _slot = self.slots.acquire();
        let started = now_text();
        let t0 = Instant::now();
        self.update(&f.name, |s| s.status.running = true);
        let cursor = lock(&self.state)
            .feeds
            .get(&f.name)
            .map(|s| s.cursor.clone())
            .unwrap_or_default();
        tracing::info!(feed = %f.name, url = %f.display_url(), transport = if f.is_remote() { if f.url.to_ascii_lowercase().starts_with("https://") { "https" } else { "http (unencrypted)" } } else { "local" }, "feed run started");
        // A panic in a parser must cost this run only.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run::run_once(f, &self.store, &self.data_dir, &cursor)
        }))
        .unwrap_or_else(|_| {
            Err(run::Failed {
                error: "internal error during the run (see the log)".into(),
                counts: Default::default(),
                cursor: None,
            })
        });
        let ms = t0.elapsed().as_millis() as u64;
        self.update(&f.name, |s| {
            s.status.running = false;
            s.status.runs += 1;
            s.status.last_run = Some(started.clone());
            s.status.duration_ms = ms;
            match outcome {
                Ok(r) => {
                    s.cursor = r.cursor;
                    s.status.counts = r.counts;
                    s.status.last_success = Some(started.clone());
                    s.status.last_error = None;
                    s.status.consecutive_failures = 0;
                    s.status.last_result = if r.not_modified { "not_modified" } else { "ok" }.into();
                    tracing::info!(feed = %f.name, new = s.status.counts.new, updated = s.status.counts.updated, rejected = s.status.counts.rejected, ms, result = %s.status.last_result, "feed run done");
                }
                Err(e) => {
                    if let Some(c) = e.cursor {
                        s.cursor = *c;
                    }
                    s.status.counts = e.counts;
                    s.status.consecutive_failures += 1;
                    s.status.last_result = "failed".into();
                    tracing::warn!(feed = %f.name, error = %e.error, ms, "feed run failed");
                    s.status.last_error = Some(e.error);
                }
            }
        });
        self.status(&f.name)
    }
}

/// The delay before the next scheduled run of a feed whose last run ended
/// with `status`: the interval after a success, a capped exponential
/// backoff after failures; both with jitter.
pub fn next_delay(interval: Duration, status: &FeedStatus) -> Duration {
    let mut rng = rand::thread_rng();
    if status.last_result == "failed" {
        let n = status.consecutive_failures.clamp(1, 20) - 1;
        let base = RETRY_FIRST.saturating_mul(1u32 << n.min(16)).min(interval);
        let j = rng.gen_range(0.0..0.2);
        return base.mul_f64(1.0 - j).min(interval);
    }
    interval.mul_f64(1.0 + rng.gen_range(0.0..0.1))
}

/// The scheduler of a running server.
pub struct Scheduler {
    runner: Arc<Runner>,
    feeds: Mutex<Vec<FeedConfig>>,
    tasks: Mutex<HashMap<String, (FeedConfig, tokio::task::JoinHandle<()>)>>,
    rt: tokio::runtime::Handle,
}

static REGISTRY: OnceLock<Arc<Scheduler>> = OnceLock::new();

/// The scheduler of this process, once [`start`] ran.
pub fn registry() -> Option<&'static Arc<Scheduler>> {
    REGISTRY.get()
}

/// Starts the scheduler of `iocd serve`: one task per enabled feed on `rt`.
pub fn start(
    store: Arc<Store>,
    data_dir: &Path,
    feeds: &[FeedConfig],
    rt: tokio::runtime::Handle,
) -> Arc<Scheduler> {
    let s = Arc::new(Scheduler {
        runner: Arc::new(Runner::new(store, data_dir)),
        feeds: Mutex::new(Vec::new()),
        tasks: Mutex::new(HashMap::new()),
        rt,
    });
    s.reconfigure(feeds);
    let _ = REGISTRY.set(s.clone());
    s
}

impl Scheduler {
    /// Applies a (re)loaded `[[feeds]]` list: changed and removed feeds'
    /// tasks stop, changed and new enabled feeds get a task.
    pub fn reconfigure(self: &Arc<Self>, feeds: &[FeedConfig]) {
        let mut tasks = lock(&self.tasks);
        tasks.retain(|name, (cfg, h)| {
            let keep = feeds.iter().any(|f| f == cfg && f.enabled) && !h.is_finished();
            if !keep {
                h.abort();
                tracing::info!(feed = %name, "feed unscheduled");
            }
            keep
        });
        for f in feeds.iter().filter(|f| f.enabled) {
            if tasks.contains_key(&f.name) {
                continue;
            }
            let me = self.clone();
            let cfg = f.clone();
            let h = self.rt.spawn(async move { me.feed_loop(cfg).await });
            tasks.insert(f.name.clone(), (f.clone(), h));
        }
        *lock(&self.feeds) = feeds.to_vec();
        drop(tasks);
        for f in feeds.iter().filter(|f| !f.enabled) {
            self.runner.update(&f.name, |s| s.status.next_run = None);
        }
    }

    async fn feed_loop(self: Arc<Self>, f: FeedConfig) {
        let interval = f.interval();
        // First run: `interval` after the last one (it survives restarts),
        // else soon, with a little jitter.
        let st = self.runner.status(&f.name);
        let since_last = st
            .last_run
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .and_then(|t| (Utc::now() - t.with_timezone(&Utc)).to_std().ok());
        let mut delay = match since_last {
            Some(d) => next_delay(interval, &st).saturating_sub(d),
            None => Duration::from_millis(rand::thread_rng().gen_range(0..1000)),
        };
        loop {
            let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            self.runner.update(&f.name, |s| {
                s.status.next_run = Some(at.to_rfc3339_opts(SecondsFormat::Millis, true))
            });
            tokio::time::sleep(delay).await;
            let (runner, cfg) = (self.runner.clone(), f.clone());
            let status = match tokio::task::spawn_blocking(move || runner.run(&cfg)).await {
                Ok(s) => s,
                Err(_) => self.runner.status(&f.name),
            };
            delay = next_delay(interval, &status);
        }
    }

    /// Runs the feed `name` now (blocking), configured or not enabled.
    pub fn run_now(&self, name: &str) -> Result<FeedStatus, String> {
        let f = lock(&self.feeds)
            .iter()
            .find(|f| f.name == name)
            .cloned()
            .ok_or_else(|| format!("no feed named '{name}' in the config"))?;
        Ok(self.runner.run(&f))
    }

    /// Every configured feed with its status (`GET /api/v1/feeds`).
    pub fn status_json(&self) -> Value {
        let feeds = lock(&self.feeds).clone();
        let st = lock(&self.runner.state).clone();
        status_view(&feeds, &st)
    }
}

/// `{"data":[{…config, "status":{…}}], "count":n}` for `feeds` with the
/// status in `st`.
pub fn status_view(feeds: &[FeedConfig], st: &StateFile) -> Value {
    let data: Vec<Value> = feeds
        .iter()
        .map(|f| {
            let mut v = f.public_json();
            let mut s = st
                .feeds
                .get(&f.name)
                .map(|s| s.status.clone())
                .unwrap_or_default();
            if s.last_result.is_empty() {
                s.last_result = "never".into();
            }
            if !f.enabled {
                s.next_run = None;
            }
            v["status"] = serde_json::to_value(&s).unwrap_or(Value::Null);
            v
        })
        .collect();
    json!({"data": data, "count": data.len()})
}

/// The control socket's `feeds-status` and `feeds-run NAME` commands
/// ([`crate::ops::control`]): `None` for other commands, else the JSON
/// payload or an error message.
pub fn control(command: &str) -> Option<Result<String, String>> {
    let (cmd, arg) = command.split_once(' ').unwrap_or((command, ""));
    if !cmd.starts_with("feeds-") {
        return None;
    }
    let Some(s) = registry() else {
        return Some(Err("feeds are not scheduled in this server".into()));
    };
    Some(match cmd {
        "feeds-status" => Ok(s.status_json().to_string()),
        "feeds-run" => s
            .run_now(arg.trim())
            .map(|st| serde_json::to_string(&st).unwrap_or_default()),
        other => Err(format!(
            "unknown command '{other}' (known: feeds-status, feeds-run NAME)"
        )),
    })
}
