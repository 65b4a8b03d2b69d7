//! Latency recording: one histogram per client task, merged at the end, reported as
//! throughput and percentiles.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies of one workload, in microseconds (1 µs to 1 hour, 3 significant digits).
#[derive(Clone, Debug)]
pub struct Latencies {
    hist: Histogram<u64>,
    /// Operations that failed (not in the histogram).
    pub errors: u64,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies::new()
    }
}

impl Latencies {
    /// An empty record.
    pub fn new() -> Self {
        let hist = Histogram::new_with_bounds(1, 3_600_000_000, 3)
            .expect("constant histogram bounds are valid");
        Latencies { hist, errors: 0 }
    }

    /// Record one successful operation that took `d`.
    pub fn record(&mut self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        self.hist.saturating_record(micros);
    }

    /// Add `other`'s records to these.
    pub fn merge(&mut self, other: &Latencies) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.hist.add(&other.hist);
        self.errors += other.errors;
    }

    /// Successful operations recorded.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The latency at `quantile` (0.0..=1.0).
    pub fn quantile(&self, quantile: f64) -> Duration {
        Duration::from_micros(self.hist.value_at_quantile(quantile))
    }
}

/// The outcome of one workload against one server.
#[derive(Clone, Debug)]
pub struct Measured {
    /// Latencies of the operations.
    pub latencies: Latencies,
    /// Wall time from the first operation to the last.
    pub elapsed: Duration,
}

impl Measured {
    /// Successful operations per second.
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs <= 0.0 {
            return 0.0;
        }
        self.latencies.count() as f64 / secs
    }
}

/// `d` in the most readable unit (µs below 1 ms, ms with two decimals below 1 s, else s).
pub fn human(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 1000 {
        format!("{micros}µs")
    } else if micros < 1_000_000 {
        format!("{:.2}ms", micros as f64 / 1000.0)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_counts_and_errors() {
        let mut a = Latencies::new();
        let mut b = Latencies::new();
        for ms in 1..=100 {
            a.record(Duration::from_millis(ms));
        }
        b.record(Duration::from_secs(2));
        b.errors = 3;
        a.merge(&b);
        assert_eq!((a.count(), a.errors), (101, 3));
        let p50 = a.quantile(0.5).as_millis();
        assert!((50..=52).contains(&p50), "p50 {p50}ms");
        assert!(a.quantile(1.0) >= Duration::from_millis(1990));
    }

    #[test]
    fn human_units() {
        assert_eq!(human(Duration::from_micros(250)), "250µs");
        assert_eq!(human(Duration::from_micros(1500)), "1.50ms");
        assert_eq!(human(Duration::from_millis(2500)), "2.50s");
    }
}
