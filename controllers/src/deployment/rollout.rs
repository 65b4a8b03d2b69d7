//! The arithmetic of a rollout, as pure functions: how far the new ReplicaSet may
//! grow (`maxSurge`) and how far the old ones may shrink (`maxUnavailable`).
//!
//! ```
//! use skiff_controllers::deployment::rollout::{resolve_fenceposts, new_rs_replicas};
//! // 10 replicas, 25% surge (rounds up: 3), 25% unavailable (rounds down: 2).
//! let (surge, unavailable) = resolve_fenceposts(Some("25%"), Some("25%"), 10);
//! assert_eq!((surge, unavailable), (3, 2));
//! // All 10 on the old ReplicaSet: the new one may start 3.
//! assert_eq!(new_rs_replicas(10, surge, 0, 10), 3);
//! ```

/// One ReplicaSet as the arithmetic sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rs {
    /// Its name.
    pub name: String,
    /// `spec.replicas`.
    pub replicas: i32,
    /// `status.availableReplicas`.
    pub available: i32,
}

/// Resolves an int-or-percent value against `total`, rounding up or down.
pub fn scaled_value(value: Option<&str>, total: i32, round_up: bool, default: &str) -> i32 {
    let v = value.unwrap_or(default);
    match v.strip_suffix('%') {
        Some(p) => {
            let p: i64 = p.trim().parse().unwrap_or(0);
            let x = i64::from(total) * p;
            let r = if round_up { (x + 99) / 100 } else { x / 100 };
            i32::try_from(r.max(0)).unwrap_or(i32::MAX)
        }
        None => v.trim().parse::<i32>().unwrap_or(0).max(0),
    }
}

/// `(maxSurge, maxUnavailable)` for `replicas`; both zero becomes unavailable 1, as in
/// Kubernetes.
pub fn resolve_fenceposts(
    max_surge: Option<&str>,
    max_unavailable: Option<&str>,
    replicas: i32,
) -> (i32, i32) {
    let surge = scaled_value(max_surge, replicas, true, "25%");
    let unavailable = scaled_value(max_unavailable, replicas, false, "25%");
    if surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

/// The new ReplicaSet's replicas: toward `replicas`, keeping the total of all
/// ReplicaSets within `replicas + surge`.
pub fn new_rs_replicas(replicas: i32, surge: i32, new_current: i32, all_current: i32) -> i32 {
    if new_current >= replicas {
        return replicas;
    }
    let max_total = replicas + surge;
    if all_current >= max_total {
        return new_current;
    }
    let up = (max_total - all_current).min(replicas - new_current);
    new_current + up.max(0)
}

/// How to shrink the old ReplicaSets (oldest first in `old`) without going below
/// `replicas - max_unavailable` available pods. Returns `(name, new replicas)`.
pub fn scale_down_old(
    replicas: i32,
    max_unavailable: i32,
    new: &Rs,
    old: &[Rs],
) -> Vec<(String, i32)> {
    let old_total: i32 = old.iter().map(|r| r.replicas).sum();
    if old_total == 0 {
        return Vec::new();
    }
    let all_total = old_total + new.replicas;
    let min_available = replicas - max_unavailable;
    let new_unavailable = (new.replicas - new.available).max(0);
    let mut budget = all_total - min_available - new_unavailable;
    if budget <= 0 {
        return Vec::new();
    }
    let mut plan: Vec<(String, i32)> = Vec::new();
    let mut current: Vec<i32> = old.iter().map(|r| r.replicas).collect();
    // First the old pods that are not available anyway.
    for (i, rs) in old.iter().enumerate() {
        if budget <= 0 {
            break;
        }
        let unhealthy = (current[i] - rs.available).max(0).min(budget);
        if unhealthy > 0 {
            current[i] -= unhealthy;
            budget -= unhealthy;
        }
    }
    // Then available ones, as far as availability allows.
    let available: i32 = old
        .iter()
        .zip(&current)
        .map(|(r, c)| r.available.min(*c))
        .sum::<i32>()
        + new.available;
    let mut allowed = (available - min_available).max(0);
    for (i, _) in old.iter().enumerate() {
        if allowed <= 0 {
            break;
        }
        let down = current[i].min(allowed);
        current[i] -= down;
        allowed -= down;
    }
    for (rs, c) in old.iter().zip(current) {
        if c != rs.replicas {
            plan.push((rs.name.clone(), c));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(name: &str, replicas: i32, available: i32) -> Rs {
        Rs {
            name: name.into(),
            replicas,
            available,
        }
    }

    #[test]
    fn fenceposts_round_like_kubernetes() {
        assert_eq!(resolve_fenceposts(Some("25%"), Some("25%"), 3), (1, 0));
        assert_eq!(resolve_fenceposts(Some("0"), Some("0"), 3), (0, 1));
        assert_eq!(resolve_fenceposts(Some("2"), Some("50%"), 5), (2, 2));
        assert_eq!(resolve_fenceposts(None, None, 4), (1, 1));
    }

    #[test]
    fn new_rs_grows_within_the_surge() {
        assert_eq!(new_rs_replicas(3, 1, 0, 3), 1);
        assert_eq!(new_rs_replicas(3, 1, 1, 4), 1, "at the surge limit");
        assert_eq!(new_rs_replicas(3, 1, 1, 3), 2);
        assert_eq!(new_rs_replicas(3, 1, 5, 5), 3, "scaled down to replicas");
        assert_eq!(new_rs_replicas(3, 0, 0, 0), 3, "nothing old: straight up");
    }

    #[test]
    fn old_rs_shrink_keeps_minimum_available() {
        // 3 replicas, surge 1, unavailable 0: new has 1 unavailable pod: nothing goes.
        assert!(scale_down_old(3, 0, &rs("new", 1, 0), &[rs("old", 3, 3)]).is_empty());
        // The new pod became available: one old pod may go.
        assert_eq!(
            scale_down_old(3, 0, &rs("new", 1, 1), &[rs("old", 3, 3)]),
            [("old".to_owned(), 2)]
        );
        // Unavailable old pods go first, even beyond availability.
        assert_eq!(
            scale_down_old(3, 1, &rs("new", 0, 0), &[rs("old", 3, 1)]),
            [("old".to_owned(), 2)]
        );
        // Several old sets: oldest first.
        assert_eq!(
            scale_down_old(4, 0, &rs("new", 2, 2), &[rs("a", 1, 1), rs("b", 3, 3)]),
            [("a".to_owned(), 0), ("b".to_owned(), 2)]
        );
    }
}
