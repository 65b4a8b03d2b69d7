//! Pure helpers the default plugins share: node selector terms, tolerations, and the
//! default score normalization.
//!
//! ```
//! use k8s_openapi::api::core::v1::{Taint, Toleration};
//! use skiff_sched::plugins::helpers::tolerates;
//! let taint = Taint { key: "gpu".into(), value: Some("true".into()), effect: "NoSchedule".into(), ..Default::default() };
//! let tol = Toleration { key: Some("gpu".into()), operator: Some("Exists".into()), ..Default::default() };
//! assert!(tolerates(&tol, &taint));
//! ```

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Taint, Toleration,
};

use crate::framework::{NodeScore, MAX_NODE_SCORE};

/// Whether one node selector requirement holds for a value lookup.
fn requirement_matches(req: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = req.values.as_deref().unwrap_or(&[]);
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), [bound]) = (value, values) else {
                return false;
            };
            let (Ok(v), Ok(bound)) = (v.parse::<i64>(), bound.parse::<i64>()) else {
                return false;
            };
            if req.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// Whether a node selector term matches the node: every label expression and every
/// field expression (`metadata.name` only) holds. A term with neither matches nothing.
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.metadata.labels.as_ref();
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.and_then(|l| l.get(&r.key)).map(String::as_str)))
        && fields.iter().all(|r| {
            r.key == "metadata.name"
                && matches!(r.operator.as_str(), "In" | "NotIn")
                && requirement_matches(r, node.metadata.name.as_deref())
        })
}

/// Whether any of the terms matches (terms are ORed).
pub fn terms_match(terms: &[NodeSelectorTerm], node: &Node) -> bool {
    terms.iter().any(|t| term_matches(t, node))
}

/// Whether the node has every label of `selector` with the same value.
pub fn selector_matches(selector: &BTreeMap<String, String>, node: &Node) -> bool {
    let labels = node.metadata.labels.as_ref();
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// Whether `toleration` tolerates `taint`, by Kubernetes' rules: the effect matches
/// (or the toleration has none); the key matches (or the toleration has none and
/// operator `Exists`); `Exists` ignores the value, `Equal` (the default) compares it.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty()) {
        if effect != taint.effect {
            return false;
        }
    }
    let operator = toleration.operator.as_deref().unwrap_or("Equal");
    match toleration.key.as_deref().filter(|k| !k.is_empty()) {
        Some(key) if key != taint.key => return false,
        None if operator != "Exists" => return false,
        _ => {}
    }
    match operator {
        "Exists" => true,
        "Equal" | "" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

/// The first of `taints` passing `filter` that no toleration tolerates.
pub fn find_untolerated<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    filter: impl Fn(&Taint) -> bool,
) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| filter(t))
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
}

/// Kubernetes' `DefaultNormalizeScore`: scales scores so the highest becomes 100
/// (all zero stays zero); with `reverse`, flips them (`100 - score`).
pub fn default_normalize_score(reverse: bool, scores: &mut [NodeScore]) {
    let max = scores.iter().map(|s| s.score).max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| s.score = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores {
        let mut score = MAX_NODE_SCORE * s.score / max;
        if reverse {
            score = MAX_NODE_SCORE - score;
        }
        s.score = score;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(labels: serde_json::Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": "n1", "labels": labels}})).unwrap()
    }

    fn term(v: serde_json::Value) -> NodeSelectorTerm {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn node_selector_terms() {
        let n = node(json!({"zone": "a", "cores": "8"}));
        let cases = [
            (
                json!({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "gpu", "operator": "NotIn", "values": ["x"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "cores", "operator": "Lt", "values": ["4"]}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["x"]}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "zone", "operator": "Bogus", "values": ["a"]}]}),
                false,
            ),
            (
                json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}),
                true,
            ),
            (
                json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}),
                false,
            ),
            (json!({}), false),
            (
                json!({"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a"]},
                {"key": "cores", "operator": "In", "values": ["2"]}]}),
                false,
            ),
        ];
        for (i, (t, want)) in cases.into_iter().enumerate() {
            assert_eq!(term_matches(&term(t), &n), want, "case {i}");
        }
    }

    #[test]
    fn toleration_rules() {
        let taint = |k: &str, v: &str, e: &str| Taint {
            key: k.into(),
            value: Some(v.into()),
            effect: e.into(),
            ..Default::default()
        };
        let tol = |v: serde_json::Value| -> Toleration { serde_json::from_value(v).unwrap() };
        let cases = [
            (
                tol(json!({"key": "k", "value": "v", "effect": "NoSchedule"})),
                taint("k", "v", "NoSchedule"),
                true,
            ),
            (
                tol(json!({"key": "k", "value": "v"})),
                taint("k", "v", "NoExecute"),
                true,
            ),
            (
                tol(json!({"key": "k", "value": "w"})),
                taint("k", "v", "NoSchedule"),
                false,
            ),
            (
                tol(json!({"key": "k", "operator": "Exists"})),
                taint("k", "v", "NoSchedule"),
                true,
            ),
            (
                tol(json!({"operator": "Exists"})),
                taint("any", "v", "NoSchedule"),
                true,
            ),
            (
                tol(json!({"operator": "Exists", "effect": "NoExecute"})),
                taint("any", "v", "NoSchedule"),
                false,
            ),
            (
                tol(json!({"value": "v"})),
                taint("k", "v", "NoSchedule"),
                false,
            ),
            (
                tol(json!({"key": "other", "operator": "Exists"})),
                taint("k", "v", "NoSchedule"),
                false,
            ),
        ];
        for (i, (t, taint, want)) in cases.iter().enumerate() {
            assert_eq!(tolerates(t, taint), *want, "case {i}");
        }
    }

    #[test]
    fn normalize() {
        let mk = |v: &[i64]| {
            v.iter()
                .map(|s| NodeScore {
                    name: "".into(),
                    score: *s,
                })
                .collect::<Vec<_>>()
        };
        let get = |v: Vec<NodeScore>| v.into_iter().map(|s| s.score).collect::<Vec<_>>();
        let mut s = mk(&[1, 2, 4]);
        default_normalize_score(false, &mut s);
        assert_eq!(get(s), vec![25, 50, 100]);
        let mut s = mk(&[1, 2, 4]);
        default_normalize_score(true, &mut s);
        assert_eq!(get(s), vec![75, 50, 0]);
        let mut s = mk(&[0, 0]);
        default_normalize_score(true, &mut s);
        assert_eq!(get(s), vec![100, 100]);
    }
}
