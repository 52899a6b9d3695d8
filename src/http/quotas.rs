//! Persisted daily quotas: the per-key token buckets of [`super::ratelimit`]
//! survive a restart. `iocd serve` loads them before it listens, saves the
//! buckets that are not full once a minute ([`SAVE_EVERY`]) and once more
//! at shutdown, into the store's `quotas` tree ([`crate::store::quotas`]).
//! A crash (kill -9, power loss) forgets at most the last minute of
//! counting; a clean stop forgets nothing.

use super::AppState;
use std::time::{Duration, Instant};

/// How often the buckets are saved while serving.
pub const SAVE_EVERY: Duration = Duration::from_secs(60);

/// Puts the saved buckets into the limiter (before serving). A store error
/// is logged and leaves full buckets: the appliance still starts.
pub fn load(state: &AppState) {
    match state.store.load_quotas() {
        Ok(q) => {
            let n = q.len();
            state.limiter.restore(q, Instant::now());
            if n > 0 {
                tracing::info!(keys = n, "rate-limit state restored");
            }
        }
        Err(e) => tracing::warn!(error = %e, "rate-limit state not restored; quotas start full"),
    }
}

/// Saves the buckets that are not full (blocking: a sled batch and flush).
pub fn save(state: &AppState) {
    let snap = state.limiter.snapshot(Instant::now());
    if let Err(e) = state.store.save_quotas(&snap) {
        tracing::warn!(error = %e, "rate-limit state not saved");
    }
}

/// Saves every [`SAVE_EVERY`] until the task is dropped.
pub async fn save_periodically(state: std::sync::Arc<AppState>) {
    let mut tick = tokio::time::interval(SAVE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let st = state.clone();
        let _ = tokio::task::spawn_blocking(move || save(&st)).await;
    }
}
