//! Token buckets: per key a per-minute and a per-day bucket (spec overview,
//! "Rate Limiting"), and per client IP a bucket of failed authentication
//! attempts. Buckets refill continuously, so there is no thundering herd at
//! a window edge.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Most over-budget requests held back at once
/// ([`Limiter::hold_over_budget`]); past that they are answered at once, so
/// holding never grows without bound.
pub const MAX_HELD: usize = 4096;
use std::time::{Duration, Instant};

/// A token bucket. `capacity` tokens, refilled at `capacity / period`.
#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f64,
    capacity: f64,
    per_sec: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket of `capacity` tokens refilling over `period`.
    pub fn new(capacity: u32, period: Duration, now: Instant) -> Bucket {
        let c = f64::from(capacity.max(1));
        Bucket {
            tokens: c,
            capacity: c,
            per_sec: c / period.as_secs_f64(),
            last: now,
        }
    }

    /// Adds the tokens earned since the last refill. A `now` older than the
    /// last refill (taken before an await by a slower request) earns
    /// nothing and leaves the clock where it is: moving it back would let
    /// the next refill pay for the same time twice.
    fn refill(&mut self, now: Instant) {
        if now <= self.last {
            return;
        }
        let dt = now.duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.per_sec).min(self.capacity);
        self.last = now;
    }

    /// Gives one token back (a reservation that turned out not to be
    /// needed), never above capacity.
    fn give_back(&mut self) {
        self.tokens = (self.tokens + 1.0).min(self.capacity);
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whole tokens left.
    pub fn remaining(&self) -> u32 {
        self.tokens.floor().max(0.0) as u32
    }

    /// Seconds until one token is available (0 if one is).
    pub fn secs_to_one(&self) -> f64 {
        ((1.0 - self.tokens) / self.per_sec).max(0.0)
    }

    /// Seconds until the bucket is full again.
    pub fn secs_to_full(&self) -> f64 {
        ((self.capacity - self.tokens) / self.per_sec).max(0.0)
    }

    fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.capacity
    }
}

/// The outcome of charging a request to a key.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    /// `X-RateLimit-Limit`: requests per minute.
    pub limit: u32,
    /// `X-RateLimit-Remaining` (per-minute bucket).
    pub remaining: u32,
    /// `X-RateLimit-Reset`: Unix seconds when the minute bucket is full again
    /// (when denied: when the next request can pass).
    pub reset: u64,
    /// `Retry-After` seconds when denied.
    pub retry_after: u64,
    /// Which bucket denied: `minute` or `day`.
    pub window: &'static str,
    /// The limit of the denying window.
    pub window_limit: u32,
}

/// Per-key and per-IP limiters. One std mutex each: the critical sections
/// are a few float operations, far shorter than any await point.
#[derive(Default)]
pub struct Limiter {
    keys: Mutex<HashMap<String, (Bucket, Bucket)>>,
    failures: Mutex<HashMap<IpAddr, Bucket>>,
    /// Over-budget requests being held back now.
    held: AtomicUsize,
}

/// A place among the held-back requests; frees it on drop.
pub struct Held<'a>(&'a AtomicUsize);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub use crate::store::quotas::QuotaState;

fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Limiter {
    /// Charges one request to `key_id` under limits `per_minute`/`per_day`.
    pub fn check(&self, key_id: &str, per_minute: u32, per_day: u32, now: Instant) -> Decision {
        let mut m = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let entry = m.entry(key_id.to_string()).or_insert_with(|| {
            (
                Bucket::new(per_minute, Duration::from_secs(60), now),
                Bucket::new(per_day, Duration::from_secs(86_400), now),
            )
        });
        // Tier limits may have changed with a config reload: rebuild buckets.
        if entry.0.capacity != f64::from(per_minute.max(1))
            || entry.1.capacity != f64::from(per_day.max(1))
        {
            *entry = (
                Bucket::new(per_minute, Duration::from_secs(60), now),
                Bucket::new(per_day, Duration::from_secs(86_400), now),
            );
        }
        let (minute, day) = entry;
        minute.refill(now);
        day.refill(now);
        let unix = unix_now();
        if minute.tokens >= 1.0 && day.tokens >= 1.0 {
            minute.tokens -= 1.0;
            day.tokens -= 1.0;
            return Decision {
                allowed: true,
                limit: per_minute,
                remaining: minute.remaining(),
                reset: unix + minute.secs_to_full().ceil() as u64,
                retry_after: 0,
                window: "minute",
                window_limit: per_minute,
            };
        }
        let (wait, window, wl) = if day.tokens < 1.0 {
            (day.secs_to_one(), "day", per_day)
        } else {
            (minute.secs_to_one(), "minute", per_minute)
        };
        let retry = wait.ceil().max(1.0) as u64;
        Decision {
            allowed: false,
            limit: per_minute,
            remaining: 0,
            reset: unix + retry,
            retry_after: retry,
            window,
            window_limit: wl,
        }
    }

    /// Charges `extra` more tokens to a key that [`Limiter::check`] has
    /// just admitted (a request that costs more than one, e.g. a bulk
    /// lookup), all or nothing from both buckets. `extra` is capped so the
    /// whole request (1 + extra) fits in each bucket's capacity: a request
    /// can always pass once the buckets are full. The answer is the
    /// decision to report in the rate-limit headers: allowed with the
    /// tokens left, or denied (nothing taken) with when `extra` tokens will
    /// be there.
    pub fn charge_extra(
        &self,
        key_id: &str,
        extra: u32,
        per_minute: u32,
        per_day: u32,
        now: Instant,
    ) -> Decision {
        let mut m = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let unix = unix_now();
        let Some((minute, day)) = m.get_mut(key_id) else {
            // Not admitted by `check` (cannot happen on the request path):
            // nothing to charge against.
            return Decision {
                allowed: true,
                limit: per_minute,
                remaining: per_minute,
                reset: unix,
                retry_after: 0,
                window: "minute",
                window_limit: per_minute,
            };
        };
        minute.refill(now);
        day.refill(now);
        let need_m = f64::from(extra).min((minute.capacity - 1.0).max(0.0));
        let need_d = f64::from(extra).min((day.capacity - 1.0).max(0.0));
        if minute.tokens >= need_m && day.tokens >= need_d {
            minute.tokens -= need_m;
            day.tokens -= need_d;
            return Decision {
                allowed: true,
                limit: per_minute,
                remaining: minute.remaining(),
                reset: unix + minute.secs_to_full().ceil() as u64,
                retry_after: 0,
                window: "minute",
                window_limit: per_minute,
            };
        }
        let (wait, window, wl) = if day.tokens < need_d {
            ((need_d - day.tokens) / day.per_sec, "day", per_day)
        } else {
            (
                (need_m - minute.tokens) / minute.per_sec,
                "minute",
                per_minute,
            )
        };
        let retry = wait.ceil().max(1.0) as u64;
        Decision {
            allowed: false,
            limit: per_minute,
            remaining: minute.remaining(),
            reset: unix + retry,
            retry_after: retry,
            window,
            window_limit: wl,
        }
    }

    /// Reserves one failed-attempt token of `ip` (budget `per_minute`)
    /// before its key is verified; `false` when none is left (answer 429
    /// with [`Limiter::auth_retry_after`]). Charging first means concurrent
    /// attempts from one address can never start more verifications than
    /// its budget; [`Limiter::refund_auth`] gives the token back when the
    /// key was valid or was not checked.
    pub fn reserve_auth(&self, ip: IpAddr, per_minute: u32, now: Instant) -> bool {
        let mut m = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 100_000 {
            // Forget addresses whose budget has fully recovered.
            m.retain(|_, b| !b.is_full(now));
        }
        let b = m
            .entry(ip)
            .or_insert_with(|| Bucket::new(per_minute, Duration::from_secs(60), now));
        if b.capacity != f64::from(per_minute.max(1)) {
            // The budget changed with a config reload.
            *b = Bucket::new(per_minute, Duration::from_secs(60), now);
        }
        b.try_take(now)
    }

    /// A place to hold back one over-budget request before its 429, or
    /// `None` when [`MAX_HELD`] are held already (answer at once).
    pub fn hold_over_budget(&self) -> Option<Held<'_>> {
        if self.held.fetch_add(1, Ordering::SeqCst) >= MAX_HELD {
            self.held.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Held(&self.held))
    }

    /// Gives back a token taken by [`Limiter::reserve_auth`].
    pub fn refund_auth(&self, ip: IpAddr) {
        let mut m = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = m.get_mut(&ip) {
            b.give_back();
        }
    }

    /// Seconds until `ip` may try again.
    pub fn auth_retry_after(&self, ip: IpAddr) -> u64 {
        let m = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&ip)
            .map(|b| b.secs_to_one().ceil().max(1.0) as u64)
            .unwrap_or(1)
    }

    /// The per-key buckets that are not full, as of `now`, for
    /// persisting ([`crate::http::quotas`]): a full bucket is what a key
    /// starts with anyway, so it is not stored.
    pub fn snapshot(&self, now: Instant) -> Vec<(String, QuotaState)> {
        let unix_ms = unix_now_ms();
        let mut m = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        m.iter_mut()
            .filter_map(|(k, (minute, day))| {
                let full = minute.is_full(now) & day.is_full(now);
                (!full).then(|| {
                    (
                        k.clone(),
                        QuotaState {
                            minute_tokens: minute.tokens,
                            minute_capacity: minute.capacity as u32,
                            day_tokens: day.tokens,
                            day_capacity: day.capacity as u32,
                            saved_unix_ms: unix_ms,
                        },
                    )
                })
            })
            .collect()
    }

    /// Puts persisted buckets back (server start): each refilled for the
    /// wall-clock time since it was saved (none if the clock went back),
    /// so a restart neither resets a spent daily quota nor withholds what
    /// refilled meanwhile. A bucket whose tier limits changed since is
    /// rebuilt full at the key's next request, as on a config reload.
    pub fn restore(&self, states: Vec<(String, QuotaState)>, now: Instant) {
        let unix_ms = unix_now_ms();
        let mut m = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        for (k, q) in states {
            let elapsed =
                Duration::from_millis(unix_ms.saturating_sub(q.saved_unix_ms).max(0) as u64);
            let bucket = |tokens: f64, capacity: u32, period: u64| {
                let mut b = Bucket::new(capacity, Duration::from_secs(period), now);
                if tokens.is_finite() {
                    b.tokens = tokens.clamp(0.0, b.capacity);
                }
                b.tokens = (b.tokens + elapsed.as_secs_f64() * b.per_sec).min(b.capacity);
                b
            };
            m.insert(
                k,
                (
                    bucket(q.minute_tokens, q.minute_capacity, 60),
                    bucket(q.day_tokens, q.day_capacity, 86_400),
                ),
            );
        }
    }

    /// Forgets a key's buckets (key revoked).
    pub fn forget(&self, key_id: &str) {
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_plus_one_is_denied_and_refills() {
        let l = Limiter::default();
        let t0 = Instant::now();
        for i in 0..3 {
            let d = l.check("k", 3, 100, t0);
            assert!(d.allowed);
            assert_eq!(d.remaining, 2 - i);
        }
        let d = l.check("k", 3, 100, t0);
        assert!(!d.allowed);
        assert_eq!(d.window, "minute");
        assert_eq!(d.retry_after, 20); // 60 s / 3 tokens
        let d = l.check("k", 3, 100, t0 + Duration::from_secs(20));
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
    }

    #[test]
    fn charge_extra_is_all_or_nothing_and_capped_at_capacity() {
        let l = Limiter::default();
        let t0 = Instant::now();
        // 10 per minute: admitted (9 left), 4 more (5 left).
        assert!(l.check("k", 10, 1000, t0).allowed);
        let d = l.charge_extra("k", 4, 10, 1000, t0);
        assert!(d.allowed);
        assert_eq!(d.remaining, 5);
        // 6 more do not fit: nothing taken, wait for one token (6 s).
        assert!(l.check("k", 10, 1000, t0).allowed);
        let d = l.charge_extra("k", 5, 10, 1000, t0);
        assert!(!d.allowed);
        assert_eq!((d.remaining, d.retry_after, d.window), (4, 6, "minute"));
        assert_eq!(l.charge_extra("k", 4, 10, 1000, t0).remaining, 0);
        // A cost beyond the capacity is capped: after a full refill a
        // request of 1 + 50 passes and empties the bucket.
        let t1 = t0 + Duration::from_secs(60);
        assert!(l.check("k", 10, 1000, t1).allowed);
        let d = l.charge_extra("k", 50, 10, 1000, t1);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
    }

    #[test]
    fn day_bucket_denies_too() {
        let l = Limiter::default();
        let t0 = Instant::now();
        assert!(l.check("k", 100, 2, t0).allowed);
        assert!(l.check("k", 100, 2, t0).allowed);
        let d = l.check("k", 100, 2, t0);
        assert!(!d.allowed);
        assert_eq!((d.window, d.window_limit), ("day", 2));
        assert_eq!(d.retry_after, 43_200);
    }

    #[test]
    fn snapshot_restore_keeps_a_spent_day_quota() {
        let l = Limiter::default();
        let t0 = Instant::now();
        assert!(l.check("k", 100, 2, t0).allowed);
        assert!(l.check("k", 100, 2, t0).allowed);
        assert!(l.check("fresh", 100, 2, t0).allowed);
        let snap = l.snapshot(t0);
        assert_eq!(snap.len(), 2);
        let l2 = Limiter::default();
        l2.restore(snap, t0);
        let d = l2.check("k", 100, 2, t0);
        assert!(!d.allowed);
        assert_eq!(d.window, "day");
        assert!(l2.check("fresh", 100, 2, t0).allowed);
        // Garbage (NaN, negative) restores as a bucket within bounds.
        let l3 = Limiter::default();
        l3.restore(
            vec![(
                "x".into(),
                QuotaState {
                    minute_tokens: f64::NAN,
                    minute_capacity: 10,
                    day_tokens: -5.0,
                    day_capacity: 10,
                    saved_unix_ms: i64::MAX,
                },
            )],
            t0,
        );
        assert_eq!(l3.check("x", 10, 10, t0).window, "day");
    }

    #[test]
    fn failures_per_ip() {
        let l = Limiter::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        assert!(l.reserve_auth(ip, 2, t0));
        assert!(l.reserve_auth(ip, 2, t0));
        assert!(!l.reserve_auth(ip, 2, t0));
        assert_eq!(l.auth_retry_after(ip), 30);
        assert!(l.reserve_auth("192.0.2.2".parse().unwrap(), 2, t0));
        assert!(l.reserve_auth(ip, 2, t0 + Duration::from_secs(31)));
        assert!(!l.reserve_auth(ip, 2, t0 + Duration::from_secs(31)));
    }

    #[test]
    fn refund_gives_back_and_stays_within_capacity() {
        let l = Limiter::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        assert!(l.reserve_auth(ip, 1, t0));
        assert!(!l.reserve_auth(ip, 1, t0));
        l.refund_auth(ip);
        l.refund_auth(ip);
        assert!(l.reserve_auth(ip, 1, t0));
        assert!(!l.reserve_auth(ip, 1, t0), "refunds never exceed capacity");
    }

    #[test]
    fn held_requests_are_bounded() {
        let l = Limiter::default();
        let held: Vec<_> = (0..MAX_HELD)
            .map(|_| l.hold_over_budget().unwrap())
            .collect();
        assert!(l.hold_over_budget().is_none());
        drop(held);
        assert!(l.hold_over_budget().is_some());
    }

    /// A charge made with an `Instant` taken before a slow await (older
    /// than the bucket's clock) must not earn tokens, now or later.
    #[test]
    fn stale_now_does_not_return_tokens() {
        let mut b = Bucket::new(30, Duration::from_secs(60), Instant::now());
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(10);
        for _ in 0..30 {
            assert!(b.try_take(later));
        }
        assert!(!b.try_take(later));
        // Stale charges: nothing earned, clock not moved back.
        assert!(!b.try_take(t0));
        assert!(!b.try_take(t0 + Duration::from_secs(5)));
        // 1.9 s after `later` at 0.5 token/s: still no whole token.
        assert!(!b.try_take(later + Duration::from_millis(1900)));
        assert!(b.try_take(later + Duration::from_millis(2100)));
    }
}
