//! Login rate limiting per client address: after `max_failures` failed attempts within
//! `window`, further attempts from that address (even with the right password) are
//! refused until the oldest failure leaves the window. A successful login clears the
//! address's record. Applies to the login form and to API basic auth alike.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LoginLimiter {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new(5, Duration::from_secs(300))
    }
}

impl LoginLimiter {
    pub fn new(max_failures: usize, window: Duration) -> Self {
        LoginLimiter {
            max_failures: max_failures.max(1),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` while `ip` has used up its failed attempts.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(mut map) = self.failures.lock() else {
            return Ok(());
        };
        let Some(times) = map.get_mut(&ip) else {
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
        if let Ok(mut map) = self.failures.lock() {
            if map.len() > 10_000 {
                // Bound memory under a spray from many addresses.
                map.retain(|_, t| {
                    t.back()
                        .is_some_and(|last| now.duration_since(*last) < self.window)
                });
            }
            let times = map.entry(ip).or_default();
            self.forget_old(times, now);
            times.push_back(now);
        }
    }

    pub fn success(&self, ip: IpAddr) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&ip);
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
}
