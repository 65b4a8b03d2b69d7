//! [`Correlator`]: client-go's `EventCorrelator`, which keeps a busy controller from
//! flooding the API server with Events.
//!
//! Two rules, with Kubernetes' defaults:
//! - **Aggregation**: when one source reports more than [`AGGREGATE_MAX_EVENTS`] events
//!   about one object with the same type and reason but different messages within
//!   [`AGGREGATE_INTERVAL`] (a ReplicaSet's "Created pod: web-x7k2p", "Created pod:
//!   web-9fj2c", ...), the following ones become one Event whose message starts with
//!   `(combined from similar events): ` and whose `count` grows.
//! - **Spam filter**: each source and object pair has a token bucket of
//!   [`SPAM_BURST`] events refilled at one per [`SPAM_REFILL`]; an event without a
//!   token is dropped.
//!
//! ```
//! use skiff_core::runtime::events::correlator::{Correlator, Verdict};
//! let mut c = Correlator::default();
//! let object = ("ReplicaSet", "default", "web", "uid-1");
//! for i in 0..10 {
//!     let v = c.correlate("rs-controller", object, "Normal", "SuccessfulCreate", &format!("Created pod: web-{i}"));
//!     assert!(matches!(v, Verdict::Write { aggregated: false, .. }));
//! }
//! let v = c.correlate("rs-controller", object, "Normal", "SuccessfulCreate", "Created pod: web-10");
//! assert!(matches!(v, Verdict::Write { aggregated: true, .. }));
//! ```

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Distinct messages of one (source, object, type, reason) before they are combined.
pub const AGGREGATE_MAX_EVENTS: usize = 10;
/// The window those messages are counted in.
pub const AGGREGATE_INTERVAL: Duration = Duration::from_secs(600);
/// Events a source may write about one object at once.
pub const SPAM_BURST: f64 = 25.0;
/// How long a spent token takes to come back.
pub const SPAM_REFILL: Duration = Duration::from_secs(300);
/// Keys remembered by each table before it is cleared (client-go's LRU size).
pub const MAX_KEYS: usize = 4096;
/// The prefix of a combined event's message.
pub const COMBINED_PREFIX: &str = "(combined from similar events): ";

/// What to do with an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Write it, with this message (the original, or the combined one).
    Write {
        /// The message to write.
        message: String,
        /// Whether it stands for several similar events.
        aggregated: bool,
    },
    /// Drop it: the source spent its tokens for this object.
    Drop,
}

/// (source, kind, namespace, name, uid, type, reason).
type AggregateKey = (String, String, String, String, String, String, String);

struct Similar {
    messages: HashSet<String>,
    since: Instant,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The aggregation and spam-filter state of one recorder.
#[derive(Default)]
pub struct Correlator {
    similar: HashMap<AggregateKey, Similar>,
    buckets: HashMap<(String, String, String, String, String), Bucket>,
}

impl Correlator {
    /// Decides about an event from `source` about `object` (kind, namespace, name, uid).
    pub fn correlate(
        &mut self,
        source: &str,
        object: (&str, &str, &str, &str),
        kind: &str,
        reason: &str,
        message: &str,
    ) -> Verdict {
        self.correlate_at(Instant::now(), source, object, kind, reason, message)
    }

    /// [`Correlator::correlate`] at a given instant.
    pub fn correlate_at(
        &mut self,
        now: Instant,
        source: &str,
        object: (&str, &str, &str, &str),
        kind: &str,
        reason: &str,
        message: &str,
    ) -> Verdict {
        let (k, ns, name, uid) = object;
        let aggregated = self.aggregate(
            now,
            (
                source.to_owned(),
                k.to_owned(),
                ns.to_owned(),
                name.to_owned(),
                uid.to_owned(),
                kind.to_owned(),
                reason.to_owned(),
            ),
            message,
        );
        let spam_key = (
            source.to_owned(),
            k.to_owned(),
            ns.to_owned(),
            name.to_owned(),
            uid.to_owned(),
        );
        if !self.take_token(now, spam_key) {
            return Verdict::Drop;
        }
        Verdict::Write {
            message: if aggregated {
                format!("{COMBINED_PREFIX}{message}")
            } else {
                message.to_owned()
            },
            aggregated,
        }
    }

    /// Counts `message` under `key`; whether the event is to be combined.
    fn aggregate(&mut self, now: Instant, key: AggregateKey, message: &str) -> bool {
        if self.similar.len() >= MAX_KEYS && !self.similar.contains_key(&key) {
            self.similar.clear();
        }
        let entry = self.similar.entry(key).or_insert_with(|| Similar {
            messages: HashSet::new(),
            since: now,
        });
        if now.saturating_duration_since(entry.since) > AGGREGATE_INTERVAL {
            entry.messages.clear();
            entry.since = now;
        }
        if entry.messages.contains(message) {
            // A plain repeat: the recorder bumps the count of that Event.
            return false;
        }
        if entry.messages.len() >= AGGREGATE_MAX_EVENTS {
            return true;
        }
        entry.messages.insert(message.to_owned());
        false
    }

    fn take_token(&mut self, now: Instant, key: (String, String, String, String, String)) -> bool {
        if self.buckets.len() >= MAX_KEYS && !self.buckets.contains_key(&key) {
            self.buckets.clear();
        }
        let bucket = self.buckets.entry(key).or_insert(Bucket {
            tokens: SPAM_BURST,
            at: now,
        });
        let refill =
            now.saturating_duration_since(bucket.at).as_secs_f64() / SPAM_REFILL.as_secs_f64();
        bucket.tokens = (bucket.tokens + refill).min(SPAM_BURST);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBJ: (&str, &str, &str, &str) = ("ReplicaSet", "default", "web", "u1");

    #[test]
    fn repeats_of_one_message_are_not_combined() {
        let mut c = Correlator::default();
        for _ in 0..20 {
            let v = c.correlate("src", OBJ, "Warning", "BackOff", "restarting");
            assert_eq!(
                v,
                Verdict::Write {
                    message: "restarting".into(),
                    aggregated: false
                }
            );
        }
    }

    #[test]
    fn the_eleventh_distinct_message_is_combined_until_the_window_passes() {
        let mut c = Correlator::default();
        let t0 = Instant::now();
        for i in 0..10 {
            let v = c.correlate_at(
                t0,
                "src",
                OBJ,
                "Normal",
                "SuccessfulCreate",
                &format!("m{i}"),
            );
            assert!(matches!(
                v,
                Verdict::Write {
                    aggregated: false,
                    ..
                }
            ));
        }
        let v = c.correlate_at(t0, "src", OBJ, "Normal", "SuccessfulCreate", "m10");
        assert_eq!(
            v,
            Verdict::Write {
                message: format!("{COMBINED_PREFIX}m10"),
                aggregated: true
            }
        );
        // Another reason is counted apart.
        let v = c.correlate_at(t0, "src", OBJ, "Normal", "SuccessfulDelete", "d0");
        assert!(matches!(
            v,
            Verdict::Write {
                aggregated: false,
                ..
            }
        ));
        let later = t0 + AGGREGATE_INTERVAL + Duration::from_secs(1);
        let v = c.correlate_at(later, "src", OBJ, "Normal", "SuccessfulCreate", "m11");
        assert!(matches!(
            v,
            Verdict::Write {
                aggregated: false,
                ..
            }
        ));
    }

    #[test]
    fn a_source_gets_a_burst_of_tokens_per_object_then_one_per_refill() {
        let mut c = Correlator::default();
        let t0 = Instant::now();
        for _ in 0..25 {
            assert_ne!(
                c.correlate_at(t0, "src", OBJ, "Normal", "R", "m"),
                Verdict::Drop
            );
        }
        assert_eq!(
            c.correlate_at(t0, "src", OBJ, "Normal", "R", "m"),
            Verdict::Drop
        );
        // Other objects and other sources have their own buckets.
        let other = ("ReplicaSet", "default", "api", "u2");
        assert_ne!(
            c.correlate_at(t0, "src", other, "Normal", "R", "m"),
            Verdict::Drop
        );
        assert_ne!(
            c.correlate_at(t0, "other", OBJ, "Normal", "R", "m"),
            Verdict::Drop
        );
        let t1 = t0 + SPAM_REFILL;
        assert_ne!(
            c.correlate_at(t1, "src", OBJ, "Normal", "R", "m"),
            Verdict::Drop
        );
        assert_eq!(
            c.correlate_at(t1, "src", OBJ, "Normal", "R", "m"),
            Verdict::Drop
        );
    }
}
