//! Login rate limiting per client: after `max_failures` failed attempts within `window`,
//! further attempts from that client (even with the right password) are refused until the
//! oldest failure leaves the window. A successful login clears the client's record. Applies
//! to the login form and to API basic auth alike.
//!
//! A client is an IPv4 address or an IPv6 /64 (one subscriber usually holds a whole /64, so
//! counting single IPv6 addresses would give an attacker 2^64 tries). The map holds at most
//! `max_clients` entries: when full, expired entries go first, then the one whose last failure
//! is oldest, so a spray from many addresses costs bounded memory.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept by default (each a few dozen bytes plus `max_failures` instants).
const DEFAULT_MAX_CLIENTS: usize = 10_000;

pub struct LoginLimiter {
    max_failures: usize,
    window: Duration,
    max_clients: usize,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new(5, Duration::from_secs(300))
    }
}

/// The key a client is counted under: the address itself for IPv4 (and IPv4-mapped IPv6),
/// its /64 for IPv6.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl LoginLimiter {
    pub fn new(max_failures: usize, window: Duration) -> Self {
        LoginLimiter {
            max_failures: max_failures.max(1),
            window,
            max_clients: DEFAULT_MAX_CLIENTS,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The same limiter holding at most `max_clients` clients (at least 1).
    pub fn with_max_clients(mut self, max_clients: usize) -> Self {
        self.max_clients = max_clients.max(1);
        self
    }

    /// How many clients are remembered now.
    pub fn len(&self) -> usize {
        self.failures.lock().map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `Err(retry_after)` while the client of `ip` has used up its failed attempts.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(mut map) = self.failures.lock() else {
            return Ok(());
        };
        let Some(times) = map.get_mut(&client_key(ip)) else {
            return Ok(());
        };
        self.forget_old(times, now);
        if times.len() >= self.max_failures {
            let oldest = times.front().copied().unwrap_or(now);
            return Err(self.window.saturating_sub(now.duration_since(oldest)));
        }
        Ok(())
    }

    pub fn failure(&self, ip: IpAddr) {
        let now = Instant::now();
        let key = client_key(ip);
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if !map.contains_key(&key) && map.len() >= self.max_clients {
            map.retain(|_, t| {
                t.back()
                    .is_some_and(|last| now.duration_since(*last) < self.window)
            });
            if map.len() >= self.max_clients {
                let oldest = map
                    .iter()
                    .min_by_key(|(_, t)| t.back().copied())
                    .map(|(k, _)| *k);
                if let Some(k) = oldest {
                    map.remove(&k);
                }
            }
        }
        let times = map.entry(key).or_default();
        self.forget_old(times, now);
        times.push_back(now);
        // Parallel attempts may all pass `check` first; only the newest failures matter.
        while times.len() > self.max_failures {
            times.pop_front();
        }
    }

    pub fn success(&self, ip: IpAddr) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&client_key(ip));
        }
    }

    fn forget_old(&self, times: &mut VecDeque<Instant>, now: Instant) {
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_an_address_after_its_failures_but_not_others() {
        let limiter = LoginLimiter::new(3, Duration::from_secs(60));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        for _ in 0..3 {
            assert!(limiter.check(a).is_ok());
            limiter.failure(a);
        }
        let retry = limiter.check(a).err();
        assert!(retry.is_some_and(|d| d <= Duration::from_secs(60)));
        assert!(limiter.check(b).is_ok());
        limiter.success(a);
        assert!(limiter.check(a).is_ok());
    }

    #[test]
    fn failures_leave_the_window() {
        let limiter = LoginLimiter::new(1, Duration::ZERO);
        let a: IpAddr = [10, 0, 0, 1].into();
        limiter.failure(a);
        assert!(limiter.check(a).is_ok());
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_their_failures() {
        let limiter = LoginLimiter::new(2, Duration::from_secs(60));
        let one: IpAddr = "2001:db8:1:2::1"
            .parse()
            .unwrap_or(IpAddr::V4([0; 4].into()));
        let two: IpAddr = "2001:db8:1:2:ffff::9"
            .parse()
            .unwrap_or(IpAddr::V4([0; 4].into()));
        let other: IpAddr = "2001:db8:1:3::1"
            .parse()
            .unwrap_or(IpAddr::V4([0; 4].into()));
        limiter.failure(one);
        limiter.failure(two);
        assert!(limiter.check(one).is_err());
        assert!(limiter
            .check("2001:db8:1:2::77".parse().unwrap_or(one))
            .is_err());
        assert!(limiter.check(other).is_ok());
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap_or(one);
        assert_eq!(client_key(mapped), IpAddr::from([10, 0, 0, 1]));
    }

    #[test]
    fn memory_is_bounded_under_a_spray() {
        let limiter = LoginLimiter::new(3, Duration::from_secs(60)).with_max_clients(100);
        for i in 0..10_000u32 {
            limiter.failure(IpAddr::from(i.to_be_bytes()));
        }
        assert_eq!(limiter.len(), 100);
        // A client blocked just now is still blocked.
        let victim: IpAddr = [192, 0, 2, 1].into();
        for _ in 0..3 {
            limiter.failure(victim);
        }
        assert!(limiter.check(victim).is_err());
        assert_eq!(limiter.len(), 100);
    }
}
