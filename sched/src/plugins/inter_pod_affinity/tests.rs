//! Table tests modelled on kube-scheduler's interpodaffinity filtering_test.go and
//! scoring_test.go.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Value};

use super::*;
use crate::framework::{Code, CycleState, NodeScore};
use crate::plugins::testing::{info, node};

/// name, incoming pod, pods on the node, expected verdict.
type FilterCase = (&'static str, Pod, Vec<Pod>, (Code, String));
/// name, incoming pod, pods on three nodes, expected scores.
type ScoreCase = (&'static str, Pod, [Vec<Pod>; 3], Option<Vec<i64>>);

fn pod(name: &str, ns: &str, labels: Value, affinity: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns, "uid": name, "labels": labels},
        "spec": {"containers": [], "affinity": affinity}}))
    .expect("test pod")
}

fn labeled(name: &str, labels: Value) -> Node {
    node(name, labels, json!({}), json!({}))
}

fn snapshot(nodes: Vec<(Node, Vec<Pod>)>) -> Snapshot {
    let ns = |l: &[(&str, &str)]| -> BTreeMap<String, String> {
        l.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    Snapshot::from_nodes(nodes.into_iter().map(|(n, pods)| info(n, pods))).with_namespaces(
        HashMap::from([
            ("subteam1.team1".to_owned(), ns(&[("team", "team1")])),
            ("subteam2.team1".to_owned(), ns(&[("team", "team1")])),
            ("subteam1.team2".to_owned(), ns(&[("team", "team2")])),
            ("default".to_owned(), ns(&[])),
        ]),
    )
}

/// The filter's verdict on each node, in snapshot order (PreFilter Skip: all pass).
fn filter_all(p: &InterPodAffinity, pod: &Pod, snap: &Snapshot) -> Vec<(Code, String)> {
    let mut state = CycleState::new();
    let (_, s) = p.pre_filter(&mut state, pod, snap);
    if s.is_skip() {
        return snap
            .nodes()
            .iter()
            .map(|_| (Code::Success, String::new()))
            .collect();
    }
    assert!(s.is_success(), "{s}");
    snap.nodes()
        .iter()
        .map(|n| {
            let s = p.filter(&state, pod, n);
            (s.code(), s.message())
        })
        .collect()
}

fn ok() -> (Code, String) {
    (Code::Success, String::new())
}
fn affinity_miss() -> (Code, String) {
    (
        Code::UnschedulableAndUnresolvable,
        REASON_AFFINITY_RULES_NOT_MATCH.into(),
    )
}
fn anti_miss() -> (Code, String) {
    (
        Code::Unschedulable,
        REASON_ANTI_AFFINITY_RULES_NOT_MATCH.into(),
    )
}
fn existing_anti_miss() -> (Code, String) {
    (
        Code::Unschedulable,
        REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH.into(),
    )
}

fn required(kind: &str, terms: Value) -> Value {
    json!({kind: {"requiredDuringSchedulingIgnoredDuringExecution": terms}})
}

fn term(key: &str, op: &str, values: Value, topology: &str) -> Value {
    json!({"labelSelector": {"matchExpressions": [{"key": key, "operator": op, "values": values}]}, "topologyKey": topology})
}

#[test]
fn required_affinity_single_node() {
    let region = || labeled("n1", json!({"region": "r1", "zone": "z11"}));
    let scan = || {
        pod(
            "e",
            "default",
            json!({"service": "securityscan"}),
            json!(null),
        )
    };
    let aff = |t: Value| required("podAffinity", json!([t]));
    let cases: Vec<FilterCase> = vec![
        (
            "no affinity, empty node",
            pod("p", "default", json!({}), json!(null)),
            vec![],
            ok(),
        ),
        (
            "In matches the existing pod",
            pod(
                "p",
                "default",
                json!({"security": "S1"}),
                aff(term(
                    "service",
                    "In",
                    json!(["securityscan", "value2"]),
                    "region",
                )),
            ),
            vec![scan()],
            ok(),
        ),
        (
            "NotIn matches the existing pod",
            pod(
                "p",
                "default",
                json!({"security": "S1"}),
                aff(term(
                    "service",
                    "NotIn",
                    json!(["securityscan3", "value3"]),
                    "region",
                )),
            ),
            vec![scan()],
            ok(),
        ),
        (
            "existing pod in another namespace",
            pod(
                "p",
                "ns2",
                json!({"security": "S1"}),
                aff(term("service", "In", json!(["securityscan"]), "region")),
            ),
            vec![scan()],
            affinity_miss(),
        ),
        (
            "listed namespace matches",
            pod(
                "p",
                "ns2",
                json!({"security": "S1"}),
                aff(
                    json!({"labelSelector": {"matchLabels": {"service": "securityscan"}}, "namespaces": ["default"], "topologyKey": "region"}),
                ),
            ),
            vec![scan()],
            ok(),
        ),
        (
            "In does not match",
            pod(
                "p",
                "default",
                json!({"security": "S1"}),
                aff(term(
                    "service",
                    "In",
                    json!(["antivirusscan", "value2"]),
                    "region",
                )),
            ),
            vec![scan()],
            affinity_miss(),
        ),
        (
            "every term must match the same pod",
            pod(
                "p",
                "default",
                json!({"security": "S1"}),
                required(
                    "podAffinity",
                    json!([
                        term("service", "Exists", json!(null), "region"),
                        term("wrongkey", "DoesNotExist", json!(null), "region")
                    ]),
                ),
            ),
            vec![scan()],
            ok(),
        ),
        (
            "one of two terms misses",
            pod(
                "p",
                "default",
                json!({"security": "S1"}),
                required(
                    "podAffinity",
                    json!([
                        term("service", "Exists", json!(null), "region"),
                        term("service", "In", json!(["antivirusscan"]), "region")
                    ]),
                ),
            ),
            vec![scan()],
            affinity_miss(),
        ),
        (
            "topology key missing on the node",
            pod(
                "p",
                "default",
                json!({"security": "S1"}),
                aff(term("service", "In", json!(["securityscan"]), "rack")),
            ),
            vec![scan()],
            affinity_miss(),
        ),
        (
            "a missing label selector matches no pod",
            pod(
                "p",
                "default",
                json!({"security": "S1"}),
                aff(json!({"topologyKey": "region"})),
            ),
            vec![scan()],
            affinity_miss(),
        ),
        (
            "first pod of a self-affine group",
            pod(
                "p",
                "default",
                json!({"service": "securityscan"}),
                aff(term("service", "In", json!(["securityscan"]), "region")),
            ),
            vec![],
            ok(),
        ),
        (
            "not self-affine and nothing to join",
            pod(
                "p",
                "default",
                json!({"service": "other"}),
                aff(term("service", "In", json!(["securityscan"]), "region")),
            ),
            vec![],
            affinity_miss(),
        ),
        (
            "anti-affinity matches the existing pod",
            pod(
                "p",
                "default",
                json!({"security": "S1"}),
                required(
                    "podAntiAffinity",
                    json!([term("service", "In", json!(["securityscan"]), "zone")]),
                ),
            ),
            vec![scan()],
            anti_miss(),
        ),
        (
            "anti-affinity does not match",
            pod(
                "p",
                "default",
                json!({"security": "S1"}),
                required(
                    "podAntiAffinity",
                    json!([term("service", "In", json!(["antivirusscan"]), "zone")]),
                ),
            ),
            vec![scan()],
            ok(),
        ),
        (
            "affinity met but anti-affinity violated",
            pod(
                "p",
                "default",
                json!({"security": "S1"}),
                json!({
                "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("service", "In", json!(["securityscan"]), "region")]},
                "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("service", "In", json!(["securityscan"]), "zone")]}}),
            ),
            vec![scan()],
            anti_miss(),
        ),
        (
            "existing pod's anti-affinity forbids the incoming pod",
            pod("p", "default", json!({"security": "S1"}), json!(null)),
            vec![pod(
                "e",
                "default",
                json!({"service": "securityscan"}),
                required(
                    "podAntiAffinity",
                    json!([term("security", "In", json!(["S1"]), "zone")]),
                ),
            )],
            existing_anti_miss(),
        ),
        (
            "existing pod's anti-affinity about another namespace",
            pod("p", "ns2", json!({"security": "S1"}), json!(null)),
            vec![pod(
                "e",
                "default",
                json!({}),
                required(
                    "podAntiAffinity",
                    json!([term("security", "In", json!(["S1"]), "zone")]),
                ),
            )],
            ok(),
        ),
        (
            "existing pod's anti-affinity on a key the node lacks",
            pod("p", "default", json!({"security": "S1"}), json!(null)),
            vec![pod(
                "e",
                "default",
                json!({}),
                required(
                    "podAntiAffinity",
                    json!([term("security", "In", json!(["S1"]), "rack")]),
                ),
            )],
            ok(),
        ),
    ];
    for (name, incoming, existing, want) in cases {
        let snap = snapshot(vec![(region(), existing)]);
        let got = filter_all(&InterPodAffinity::default(), &incoming, &snap);
        assert_eq!(got, vec![want], "{name}");
    }
}

#[test]
fn required_affinity_multiple_nodes() {
    let nodes = || {
        vec![
            labeled("n1", json!({"region": "r1", "zone": "z1"})),
            labeled("n2", json!({"region": "r1", "zone": "z2"})),
            labeled("n3", json!({"region": "r2", "zone": "z3"})),
        ]
    };
    let scan = || pod("e", "default", json!({"foo": "bar"}), json!(null));
    let place =
        |pods: [Vec<Pod>; 3]| -> Snapshot { snapshot(nodes().into_iter().zip(pods).collect()) };
    // Affinity by region: both r1 nodes pass, r2 does not.
    let p = pod(
        "p",
        "default",
        json!({}),
        required(
            "podAffinity",
            json!([term("foo", "In", json!(["bar"]), "region")]),
        ),
    );
    assert_eq!(
        filter_all(
            &InterPodAffinity::default(),
            &p,
            &place([vec![scan()], vec![], vec![]])
        ),
        vec![ok(), ok(), affinity_miss()]
    );
    // Anti-affinity by region: both r1 nodes are out.
    let p = pod(
        "p",
        "default",
        json!({}),
        required(
            "podAntiAffinity",
            json!([term("foo", "In", json!(["bar"]), "region")]),
        ),
    );
    assert_eq!(
        filter_all(
            &InterPodAffinity::default(),
            &p,
            &place([vec![scan()], vec![], vec![]])
        ),
        vec![anti_miss(), anti_miss(), ok()]
    );
    // An existing pod's anti-affinity by zone only keeps the incoming pod off z1.
    let e = pod(
        "e",
        "default",
        json!({}),
        required(
            "podAntiAffinity",
            json!([term("app", "In", json!(["web"]), "zone")]),
        ),
    );
    let p = pod("p", "default", json!({"app": "web"}), json!(null));
    assert_eq!(
        filter_all(
            &InterPodAffinity::default(),
            &p,
            &place([vec![e], vec![], vec![]])
        ),
        vec![existing_anti_miss(), ok(), ok()]
    );
    // Affinity to pods in r2 with anti-affinity to pods in the same zone: n3 holds
    // the only match in both senses, so nothing fits.
    let p = pod(
        "p",
        "default",
        json!({}),
        json!({
        "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("foo", "In", json!(["bar"]), "region")]},
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("foo", "In", json!(["bar"]), "zone")]}}),
    );
    assert_eq!(
        filter_all(
            &InterPodAffinity::default(),
            &p,
            &place([vec![], vec![], vec![scan()]])
        ),
        vec![affinity_miss(), affinity_miss(), anti_miss()]
    );
}

#[test]
fn namespace_selectors() {
    let n = || labeled("n1", json!({"region": "r1"}));
    let existing = || pod("e", "subteam2.team1", json!({"foo": "bar"}), json!(null));
    let by_team = |team: &str| {
        required(
            "podAffinity",
            json!([{"labelSelector": {"matchLabels": {"foo": "bar"}}, "namespaceSelector": {"matchLabels": {"team": team}}, "topologyKey": "region"}]),
        )
    };
    let cases = [
        (
            "selector matches the existing pod's namespace",
            by_team("team1"),
            ok(),
        ),
        (
            "selector matches other namespaces",
            by_team("team2"),
            affinity_miss(),
        ),
        (
            "empty selector: every namespace",
            required(
                "podAffinity",
                json!([{"labelSelector": {"matchLabels": {"foo": "bar"}}, "namespaceSelector": {}, "topologyKey": "region"}]),
            ),
            ok(),
        ),
    ];
    for (name, aff, want) in cases {
        let p = pod("p", "subteam1.team2", json!({}), aff);
        let snap = snapshot(vec![(n(), vec![existing()])]);
        assert_eq!(
            filter_all(&InterPodAffinity::default(), &p, &snap),
            vec![want],
            "{name}"
        );
    }
    // An existing pod's anti-affinity with a namespace selector matches the labels
    // of the incoming pod's namespace.
    let e = pod(
        "e",
        "default",
        json!({}),
        required(
            "podAntiAffinity",
            json!([{"labelSelector": {"matchLabels": {"foo": "bar"}}, "namespaceSelector": {"matchLabels": {"team": "team1"}}, "topologyKey": "region"}]),
        ),
    );
    for (ns, want) in [
        ("subteam1.team1", existing_anti_miss()),
        ("subteam1.team2", ok()),
    ] {
        let p = pod("p", ns, json!({"foo": "bar"}), json!(null));
        let snap = snapshot(vec![(n(), vec![e.clone()])]);
        assert_eq!(
            filter_all(&InterPodAffinity::default(), &p, &snap),
            vec![want],
            "{ns}"
        );
    }
}

#[test]
fn add_and_remove_pod_update_the_counts() {
    let n1 = labeled("n1", json!({"zone": "z1"}));
    let e = pod("e", "default", json!({"foo": "bar"}), json!(null));
    let snap = snapshot(vec![(n1, vec![e.clone()])]);
    let p = pod(
        "p",
        "default",
        json!({}),
        required(
            "podAntiAffinity",
            json!([term("foo", "In", json!(["bar"]), "zone")]),
        ),
    );
    let plugin = InterPodAffinity::default();
    let mut state = CycleState::new();
    assert!(plugin.pre_filter(&mut state, &p, &snap).1.is_success());
    let node = &snap.nodes()[0];
    assert_eq!(plugin.filter(&state, &p, node).code(), Code::Unschedulable);
    let victim = node.pods()[0].clone();
    assert!(plugin
        .remove_pod(&mut state, &p, &victim, node)
        .is_success());
    assert_eq!(plugin.filter(&state, &p, node).code(), Code::Success);
    assert!(plugin.add_pod(&mut state, &p, &victim, node).is_success());
    assert_eq!(plugin.filter(&state, &p, node).code(), Code::Unschedulable);
}

/// Normalized scores per node in snapshot order; `None` when PreScore skips.
fn scores(p: &InterPodAffinity, pod: &Pod, snap: &Snapshot) -> Option<Vec<i64>> {
    let mut state = CycleState::new();
    let nodes = snap.nodes().to_vec();
    let s = p.pre_score(&mut state, pod, &nodes, snap);
    if s.is_skip() {
        return None;
    }
    assert!(s.is_success(), "{s}");
    let mut v: Vec<NodeScore> = nodes
        .iter()
        .map(|n| NodeScore {
            name: n.name(),
            score: p.score(&state, pod, n).expect("score"),
        })
        .collect();
    assert!(p.normalize_score(&state, pod, &mut v).is_success());
    Some(v.into_iter().map(|s| s.score).collect())
}

fn preferred(kind: &str, terms: Value) -> Value {
    json!({kind: {"preferredDuringSchedulingIgnoredDuringExecution": terms}})
}

fn weighted(weight: i64, key: &str, values: Value, topology: &str) -> Value {
    json!({"weight": weight, "podAffinityTerm": term(key, "In", values, topology)})
}

#[test]
fn preferred_affinity_scores() {
    let china = || labeled("m1", json!({"region": "China"}));
    let china_az1 = || labeled("m2", json!({"region": "China", "az": "az1"}));
    let india = || labeled("m3", json!({"region": "India"}));
    let s1 = || pod("e1", "default", json!({"security": "S1"}), json!(null));
    let s2 = || pod("e2", "default", json!({"security": "S2"}), json!(null));
    let stay_with_s1 = preferred(
        "podAffinity",
        json!([weighted(5, "security", json!(["S1"]), "region")]),
    );
    let away_from_s1 = preferred(
        "podAntiAffinity",
        json!([weighted(5, "security", json!(["S1"]), "region")]),
    );
    let default = InterPodAffinity::default();
    let cases: Vec<ScoreCase> = vec![
        (
            "no terms anywhere: skipped",
            pod("p", "default", json!({"security": "S1"}), json!(null)),
            [vec![s1()], vec![], vec![]],
            None,
        ),
        (
            "affinity: the region holding S1 scores 100",
            pod("p", "default", json!({}), stay_with_s1.clone()),
            [vec![s1()], vec![], vec![]],
            Some(vec![100, 100, 0]),
        ),
        (
            "affinity: no matching pod, all equal",
            pod("p", "default", json!({}), stay_with_s1.clone()),
            [vec![s2()], vec![], vec![]],
            None,
        ),
        (
            "anti-affinity: the region holding S1 scores 0",
            pod("p", "default", json!({}), away_from_s1),
            [vec![s1()], vec![], vec![]],
            Some(vec![0, 0, 100]),
        ),
        (
            "affinity by region and anti-affinity by az",
            pod("p", "default", json!({}), json!({
                "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [weighted(8, "security", json!(["S1"]), "region")]},
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [weighted(5, "security", json!(["S2"]), "az")]}})),
            [vec![s1()], vec![s2()], vec![]],
            Some(vec![100, 37, 0]),
        ),
        (
            "an existing pod's required affinity to the incoming pod counts with hardPodAffinityWeight",
            pod("p", "default", json!({"security": "S1"}), json!(null)),
            [vec![pod("e", "default", json!({}), required("podAffinity", json!([term("security", "In", json!(["S1"]), "region")])))], vec![], vec![]],
            Some(vec![100, 100, 0]),
        ),
        (
            "an existing pod's preferred anti-affinity to the incoming pod",
            pod("p", "default", json!({"security": "S1"}), json!(null)),
            [vec![], vec![], vec![pod("e", "default", json!({}), preferred("podAntiAffinity", json!([weighted(3, "security", json!(["S1"]), "region")])))]],
            Some(vec![100, 100, 0]),
        ),
    ];
    for (name, incoming, pods, want) in cases {
        let snap = snapshot(
            vec![china(), china_az1(), india()]
                .into_iter()
                .zip(pods)
                .collect(),
        );
        assert_eq!(scores(&default, &incoming, &snap), want, "{name}");
    }
    // hardPodAffinityWeight 0 ignores existing pods' required affinity; ignoring
    // existing pods' preferred terms skips a pod without terms of its own.
    let e = pod(
        "e",
        "default",
        json!({}),
        required(
            "podAffinity",
            json!([term("security", "In", json!(["S1"]), "region")]),
        ),
    );
    let snap = snapshot(vec![(china(), vec![e]), (india(), vec![])]);
    let p = pod("p", "default", json!({"security": "S1"}), json!(null));
    let zero = InterPodAffinity::from_args(&json!({"hardPodAffinityWeight": 0})).unwrap();
    assert_eq!(scores(&zero, &p, &snap), None);
    let ignore =
        InterPodAffinity::from_args(&json!({"ignorePreferredTermsOfExistingPods": true})).unwrap();
    assert_eq!(scores(&ignore, &p, &snap), None);
    assert_eq!(scores(&default, &p, &snap), Some(vec![100, 0]));
}

#[test]
fn args_are_validated() {
    assert!(InterPodAffinity::from_args(&json!({"hardPodAffinityWeight": -1})).is_err());
    assert!(InterPodAffinity::from_args(&json!({"bogus": 1})).is_err());
    assert!(InterPodAffinity::from_args(&json!([])).is_err());
    assert_eq!(
        InterPodAffinity::from_args(&Value::Null)
            .unwrap()
            .hard_pod_affinity_weight,
        1
    );
}
