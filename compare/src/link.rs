//! Shaped links (pure): a network link's rate and latency, named presets, and the token bucket
//! the harness's file server sends through, so every target of a run pays the same download
//! a user's backend pays on the internet.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A link: bits per second and the delay before the first byte of each request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// The preset's name, or the spec as written.
    pub name: String,
    pub rate_bits_per_s: f64,
    pub latency_ms: f64,
}

/// Named links: (name, rate, latency).
pub const PRESETS: [(&str, &str); 3] = [
    ("datacenter", "1gbit,5ms"),
    ("fibre", "100mbit,20ms"),
    ("dsl", "20mbit,40ms"),
];

/// `100mbit`, `20Mbit`, `1gbit`, `512kbit` → bits per second.
fn parse_rate(text: &str) -> Option<f64> {
    let lower = text.trim().to_ascii_lowercase();
    let units = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)];
    let (number, scale) = units
        .iter()
        .find_map(|(unit, scale)| Some((lower.strip_suffix(unit)?, *scale)))?;
    let value: f64 = number.trim().parse().ok()?;
    (value.is_finite() && value > 0.0).then_some(value * scale)
}

/// `20ms`, `0.5s`, `0` → milliseconds.
fn parse_latency(text: &str) -> Option<f64> {
    let lower = text.trim().to_ascii_lowercase();
    let (number, scale) = if let Some(ms) = lower.strip_suffix("ms") {
        (ms, 1.0)
    } else if let Some(s) = lower.strip_suffix('s') {
        (s, 1000.0)
    } else {
        (lower.as_str(), 1.0)
    };
    let value: f64 = number.trim().parse().ok()?;
    (value.is_finite() && (0.0..=10_000.0).contains(&(value * scale))).then_some(value * scale)
}

impl Link {
    /// A preset's name or `RATE[,LATENCY]` (`100mbit,20ms`; latency 0 when left out).
    pub fn parse(spec: &str) -> Result<Link, String> {
        let preset = PRESETS.iter().find(|(name, _)| *name == spec.trim());
        let (name, body) = match preset {
            Some((name, body)) => (*name, *body),
            None => (spec.trim(), spec.trim()),
        };
        let (rate, latency) = body.split_once(',').unwrap_or((body, "0"));
        let bad = || {
            let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
            format!(
                "{spec:?} is not a link: write RATE[,LATENCY] (e.g. 100mbit,20ms) or one of {}",
                names.join(", ")
            )
        };
        Ok(Link {
            name: name.to_owned(),
            rate_bits_per_s: parse_rate(rate).ok_or_else(bad)?,
            latency_ms: parse_latency(latency).ok_or_else(bad)?,
        })
    }

    pub fn bytes_per_s(&self) -> f64 {
        self.rate_bits_per_s / 8.0
    }

    pub fn latency(&self) -> Duration {
        Duration::from_secs_f64(self.latency_ms / 1000.0)
    }

    /// `fibre (100 Mbit/s, 20 ms)`.
    pub fn describe(&self) -> String {
        let rate = self.rate_bits_per_s;
        let rate = if rate >= 1e9 {
            format!("{} Gbit/s", rate / 1e9)
        } else if rate >= 1e6 {
            format!("{} Mbit/s", rate / 1e6)
        } else {
            format!("{} kbit/s", rate / 1e3)
        };
        format!("{} ({rate}, {} ms)", self.name, self.latency_ms)
    }
}

/// A sample as a run names it: `bbb-720p-10m` (over the run's link, if any) or
/// `bbb-720p-10m@fibre` (that sample over its own link, a shaped row beside the loopback one).
pub fn split_sample(spec: &str) -> Result<(&str, Option<Link>), String> {
    match spec.split_once('@') {
        Some((name, link)) => Ok((name, Some(Link::parse(link)?))),
        None => Ok((spec, None)),
    }
}

/// A token bucket in bytes: refills at `rate` per second up to `burst`; a send may take more
/// than is there and then waits for the debt to be refilled, so every connection sharing the
/// bucket shares the rate.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at_s: f64,
}

impl TokenBucket {
    /// A full bucket at time 0.
    pub fn new(rate_bytes_per_s: f64, burst_bytes: f64) -> TokenBucket {
        TokenBucket {
            rate: rate_bytes_per_s,
            burst: burst_bytes,
            tokens: burst_bytes,
            at_s: 0.0,
        }
    }

    /// Takes `bytes` at `now_s` (seconds on one clock, never going back); returns how long
    /// the sender must wait before sending them.
    pub fn take(&mut self, now_s: f64, bytes: usize) -> f64 {
        let now_s = now_s.max(self.at_s);
        self.tokens = (self.tokens + (now_s - self.at_s) * self.rate).min(self.burst);
        self.at_s = now_s;
        self.tokens -= bytes as f64;
        if self.tokens >= 0.0 {
            0.0
        } else {
            -self.tokens / self.rate
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_and_presets_parse_and_nonsense_is_one_clear_line() {
        let fibre = Link::parse("fibre").unwrap();
        assert_eq!((fibre.rate_bits_per_s, fibre.latency_ms), (100e6, 20.0));
        assert_eq!(fibre.describe(), "fibre (100 Mbit/s, 20 ms)");
        let own = Link::parse("20Mbit,0.04s").unwrap();
        assert_eq!((own.rate_bits_per_s, own.latency_ms), (20e6, 40.0));
        assert_eq!(Link::parse("512kbit").unwrap().latency_ms, 0.0);
        assert_eq!(Link::parse("1gbit,5ms").unwrap().bytes_per_s(), 125e6);
        for bad in ["fast", "100", "-5mbit", "10mbit,forever", "0mbit"] {
            let message = Link::parse(bad).unwrap_err();
            assert!(
                message.contains("RATE[,LATENCY]") && message.contains("fibre"),
                "{message}"
            );
        }
    }

    #[test]
    fn a_sample_may_name_its_own_link() {
        assert_eq!(split_sample("bbb").unwrap(), ("bbb", None));
        let (name, link) = split_sample("bbb-720p-10m@fibre").unwrap();
        assert_eq!(
            (name, link.unwrap().rate_bits_per_s),
            ("bbb-720p-10m", 100e6)
        );
        assert!(split_sample("bbb@nowhere").is_err());
    }

    #[test]
    fn the_bucket_holds_the_rate_over_any_pattern_of_sends() {
        // 1000 bytes/s, 100 bytes of burst: 10 sends of 1000 bytes take 10 s less the burst.
        let mut bucket = TokenBucket::new(1000.0, 100.0);
        let mut now = 0.0;
        for _ in 0..10 {
            now += bucket.take(now, 1000);
        }
        assert!((now - 9.9).abs() < 1e-9, "{now}");
        // Idle time refills only up to the burst.
        let mut idle = TokenBucket::new(1000.0, 100.0);
        assert_eq!(idle.take(50.0, 100), 0.0);
        assert!((idle.take(50.0, 100) - 0.1).abs() < 1e-9);
        // Two senders sharing it share the rate: 2 × 500 bytes wait as long as 1000.
        let mut shared = TokenBucket::new(1000.0, 0.0);
        let first = shared.take(0.0, 500);
        let second = shared.take(0.0, 500);
        assert!((first - 0.5).abs() < 1e-9 && (second - 1.0).abs() < 1e-9);
    }
}
