//! Connection admission (issue #11, item 3): which sockets the server
//! spends a slot on, so that silent or slow sockets never keep a client
//! that does speak from being served.
//!
//! A socket passes three gates, none of which blocks the accept loop:
//!
//! 1. **Per address** ([`Limits::admit`]): at most `max_connections_per_ip`
//!    sockets (handshaking or established) from one IP; beyond it the new
//!    socket is closed at once.
//! 2. **Handshake pool** ([`Limits::handshake`]): at most
//!    `max_handshakes_per_ip` handshakes from one IP (beyond: closed at
//!    once) and `max_handshakes` in all. When the pool is full the
//!    *oldest* handshake is dropped for the new one: a real client
//!    finishes its handshake in milliseconds, so the oldest ones are the
//!    silent ones, and a flood can only evict its own sockets unless it
//!    opens `max_handshakes` sockets within one real handshake.
//!    Handshakes are also bounded in time (`tls_handshake_timeout_secs`).
//! 3. **Established pool** ([`Limits::establish`]): `max_connections`
//!    connections past their handshake. When it is full, the connection
//!    idle the longest with no request open is closed for the new one
//!    (as nginx reuses idle keep-alive connections); only when every one
//!    has a request open does the new one get 503 `server_busy`.
//!
//! Before, a socket took an established slot at `accept`, before its
//! handshake, and the accept loop waited for a free slot: 1,100 silent
//! TCP sockets held all 1,024 slots for the handshake timeout and a health
//! request waited 4–8 s in the kernel backlog.

use super::idle::Activity;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// The three gates. One per server, shared by the accept loop and every
/// connection task (the slots give themselves back on drop).
pub struct Limits {
    per_ip_max: usize,
    handshakes_per_ip_max: usize,
    /// Sockets and handshakes per address. One std mutex: it is held for a
    /// map lookup, never across an await.
    per_ip: Mutex<HashMap<IpAddr, PerIp>>,
    handshakes: Pool,
    established: Pool,
}

#[derive(Default)]
struct PerIp {
    sockets: usize,
    handshakes: usize,
}

/// Why a socket was not admitted (logged at debug level).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `max_connections_per_ip` sockets of that address are open.
    AddressSockets,
    /// `max_handshakes_per_ip` handshakes of that address are running.
    AddressHandshakes,
    /// Every established slot has a request open (answered 503).
    Busy,
}

impl Limits {
    /// Limits from `[server]`.
    pub fn new(cfg: &crate::config::ServerConfig) -> Arc<Limits> {
        Arc::new(Limits {
            per_ip_max: cfg.max_connections_per_ip,
            handshakes_per_ip_max: cfg.max_handshakes_per_ip,
            per_ip: Mutex::new(HashMap::new()),
            handshakes: Pool::new(cfg.max_handshakes),
            established: Pool::new(cfg.max_connections),
        })
    }

    fn with_ip<T>(&self, f: impl FnOnce(&mut HashMap<IpAddr, PerIp>) -> T) -> T {
        f(&mut self.per_ip.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Gate 1: counts the socket against its address for as long as the
    /// returned guard lives.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<AddressSlot, Refusal> {
        self.with_ip(|m| {
            let e = m.entry(ip).or_default();
            if e.sockets >= self.per_ip_max {
                return Err(Refusal::AddressSockets);
            }
            e.sockets += 1;
            Ok(AddressSlot {
                limits: self.clone(),
                ip,
            })
        })
    }

    /// Gate 2: a handshake slot, possibly taken from the oldest handshake
    /// (whose [`HandshakeSlot::evicted`] then resolves).
    pub fn handshake(self: &Arc<Self>, addr: &AddressSlot) -> Result<HandshakeSlot, Refusal> {
        let ip = addr.ip;
        self.with_ip(|m| {
            let e = m.entry(ip).or_default();
            if e.handshakes >= self.handshakes_per_ip_max {
                return Err(Refusal::AddressHandshakes);
            }
            e.handshakes += 1;
            Ok(())
        })?;
        // From here the slot gives the address count back on drop.
        let mut slot = HandshakeSlot {
            limits: self.clone(),
            ip,
            id: None,
            rx: None,
        };
        // The oldest member always exists when the pool is full.
        let (id, rx) = self
            .handshakes
            .insert(None, |live| {
                live.iter().min_by_key(|(_, m)| m.since).map(|(id, _)| *id)
            })
            .ok_or(Refusal::AddressHandshakes)?;
        slot.id = Some(id);
        slot.rx = Some(rx);
        Ok(slot)
    }

    /// Gate 3: an established slot for a connection whose requests report
    /// to `activity`, possibly taken from the longest-idle connection
    /// without an open request. `Err(Busy)` when every connection has one.
    pub fn establish(self: &Arc<Self>, activity: &Activity) -> Result<ConnSlot, Refusal> {
        let (id, rx) = self
            .established
            .insert(Some(activity.clone()), |live| {
                live.iter()
                    .filter_map(|(id, m)| {
                        let a = m.activity.as_ref()?;
                        (a.open() == 0).then(|| (a.idle_for(), *id))
                    })
                    .max()
                    .map(|(_, id)| id)
            })
            .ok_or(Refusal::Busy)?;
        Ok(ConnSlot {
            limits: self.clone(),
            id,
            rx,
        })
    }
}

/// A socket counted against its address (gate 1).
pub struct AddressSlot {
    limits: Arc<Limits>,
    ip: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        self.limits.with_ip(|m| {
            if let Some(e) = m.get_mut(&self.ip) {
                e.sockets = e.sockets.saturating_sub(1);
                if e.sockets == 0 && e.handshakes == 0 {
                    m.remove(&self.ip);
                }
            }
        });
    }
}

/// A handshake in progress (gate 2); dropping it frees the slot.
pub struct HandshakeSlot {
    limits: Arc<Limits>,
    ip: IpAddr,
    id: Option<u64>,
    rx: Option<oneshot::Receiver<()>>,
}

impl HandshakeSlot {
    /// Resolves when a newer handshake took this slot: drop the socket.
    pub async fn evicted(&mut self) {
        match &mut self.rx {
            Some(rx) => {
                let _ = rx.await;
            }
            None => std::future::pending().await,
        }
    }
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        self.limits.with_ip(|m| {
            if let Some(e) = m.get_mut(&self.ip) {
                e.handshakes = e.handshakes.saturating_sub(1);
            }
        });
        if let Some(id) = self.id {
            self.limits.handshakes.remove(id);
        }
    }
}

/// An established connection (gate 3); dropping it frees the slot.
pub struct ConnSlot {
    limits: Arc<Limits>,
    id: u64,
    rx: oneshot::Receiver<()>,
}

impl ConnSlot {
    /// Resolves when a new connection took this (idle) one's slot.
    pub async fn evicted(&mut self) {
        let _ = (&mut self.rx).await;
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.limits.established.remove(self.id);
    }
}

/// A bounded set of members that makes room by evicting one.
struct Pool {
    max: usize,
    inner: Mutex<PoolInner>,
}

struct PoolInner {
    next: u64,
    live: HashMap<u64, Member>,
}

struct Member {
    since: Instant,
    activity: Option<Activity>,
    /// Dropping it tells the member's task to close its socket.
    _kick: oneshot::Sender<()>,
}

impl Pool {
    fn new(max: usize) -> Pool {
        Pool {
            max: max.max(1),
            inner: Mutex::new(PoolInner {
                next: 0,
                live: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a member; when full, first evicts the one `victim` picks
    /// (`None` from it: no room, nothing added). Returns the member's id
    /// and the receiver its eviction wakes.
    fn insert(
        &self,
        activity: Option<Activity>,
        victim: impl FnOnce(&HashMap<u64, Member>) -> Option<u64>,
    ) -> Option<(u64, oneshot::Receiver<()>)> {
        let mut g = self.lock();
        if g.live.len() >= self.max {
            let id = victim(&g.live)?;
            // Dropping its sender wakes the evicted task.
            g.live.remove(&id);
        }
        let id = g.next;
        g.next += 1;
        let (kick, rx) = oneshot::channel();
        g.live.insert(
            id,
            Member {
                since: Instant::now(),
                activity,
                _kick: kick,
            },
        );
        Some((id, rx))
    }

    fn remove(&self, id: u64) {
        self.lock().live.remove(&id);
    }
}
