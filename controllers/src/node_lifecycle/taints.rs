//! The taints a node's `Ready` condition calls for: `node.kubernetes.io/not-ready`
//! when it is `False`, `node.kubernetes.io/unreachable` when it is `Unknown`, each
//! with a `NoExecute` and a `NoSchedule` variant, and neither when it is `True`.
//!
//! ```
//! use skiff_controllers::node_lifecycle::taints::{desired, UNREACHABLE};
//! let now = skiff_core::runtime::now();
//! let tainted = desired(&[], Some("Unknown"), now).unwrap();
//! assert!(tainted.iter().any(|t| t.key == UNREACHABLE && t.effect == "NoExecute"));
//! assert!(desired(&tainted, Some("Unknown"), now).is_none()); // already right
//! assert_eq!(desired(&tainted, Some("True"), now), Some(vec![]));
//! ```

use k8s_openapi::api::core::v1::Taint;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// The taint of a node whose `Ready` condition is `Unknown`.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The taint of a node whose `Ready` condition is `False`.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The effects each is added with.
pub const EFFECTS: [&str; 2] = ["NoExecute", "NoSchedule"];

fn ours(t: &Taint) -> bool {
    (t.key == UNREACHABLE || t.key == NOT_READY) && EFFECTS.contains(&t.effect.as_str())
}

/// The node's taints as `ready` (the `Ready` condition's status; `None` when the node
/// has none yet, which changes nothing) calls for, or `None` when they already are.
/// Taints of others are kept; taints already present keep their `timeAdded`.
pub fn desired(current: &[Taint], ready: Option<&str>, now: Timestamp) -> Option<Vec<Taint>> {
    let key = match ready? {
        "True" => None,
        "False" => Some(NOT_READY),
        _ => Some(UNREACHABLE),
    };
    let mut next: Vec<Taint> = current
        .iter()
        .filter(|t| !ours(t) || Some(t.key.as_str()) == key)
        .cloned()
        .collect();
    if let Some(key) = key {
        for effect in EFFECTS {
            if !next.iter().any(|t| t.key == key && t.effect == effect) {
                next.push(Taint {
                    key: key.to_owned(),
                    value: None,
                    effect: effect.to_owned(),
                    time_added: (effect == "NoExecute").then_some(Time(now)),
                });
            }
        }
    }
    (next != current).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_ready_replaces_unreachable_and_others_stay() {
        let now = skiff_core::runtime::now();
        let foreign = Taint {
            key: "dedicated".into(),
            value: Some("gpu".into()),
            effect: "NoSchedule".into(),
            time_added: None,
        };
        let unknown = desired(std::slice::from_ref(&foreign), Some("Unknown"), now).unwrap();
        assert_eq!(unknown.len(), 3);
        let not_ready = desired(&unknown, Some("False"), now).unwrap();
        let keys: Vec<(&str, &str)> = not_ready
            .iter()
            .map(|t| (t.key.as_str(), t.effect.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("dedicated", "NoSchedule"),
                (NOT_READY, "NoExecute"),
                (NOT_READY, "NoSchedule")
            ]
        );
        assert!(not_ready[1].time_added.is_some());
        assert_eq!(desired(&not_ready, Some("True"), now), Some(vec![foreign]));
        assert_eq!(desired(&[], None, now), None);
    }
}
