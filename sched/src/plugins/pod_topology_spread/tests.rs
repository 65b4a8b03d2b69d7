//! Table tests modelled on kube-scheduler's podtopologyspread filtering_test.go and
//! scoring_test.go.

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Value};

use super::*;
use crate::cache::Snapshot;
use crate::framework::{Code, CycleState, NodeScore};
use crate::plugins::testing::{info, node};

/// name, incoming pod, pods on the four nodes, expected codes.
type SpreadCase = (&'static str, Pod, Vec<Vec<Pod>>, Vec<Code>);

fn pod(name: &str, ns: &str, labels: Value, spec: Value) -> Pod {
    let mut spec = spec;
    if spec.get("containers").is_none() {
        spec["containers"] = json!([]);
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns, "uid": name, "labels": labels},
        "spec": spec}))
    .expect("test pod")
}

fn foo(n: usize) -> Vec<Pod> {
    (0..n)
        .map(|i| pod(&format!("e{i}"), "default", json!({"foo": ""}), json!({})))
        .collect()
}

/// node-a, node-b in zone1; node-x, node-y in zone2 (each with its hostname label).
fn four_nodes() -> Vec<Node> {
    [
        ("node-a", "zone1"),
        ("node-b", "zone1"),
        ("node-x", "zone2"),
        ("node-y", "zone2"),
    ]
    .into_iter()
    .map(|(n, z)| {
        node(
            n,
            json!({"zone": z, LABEL_HOSTNAME: n}),
            json!({}),
            json!({}),
        )
    })
    .collect()
}

fn snap(nodes: Vec<Node>, pods: Vec<Vec<Pod>>) -> Snapshot {
    Snapshot::from_nodes(nodes.into_iter().zip(pods).map(|(n, p)| info(n, p)))
}

fn constraint(skew: i32, key: &str, when: &str, extra: Value) -> Value {
    let mut c = json!({"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when,
        "labelSelector": {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}});
    for (k, v) in extra.as_object().into_iter().flatten() {
        c[k] = v.clone();
    }
    c
}

fn spread(cs: Vec<Value>) -> Value {
    json!({"topologySpreadConstraints": cs})
}

fn filter_all(pod: &Pod, snap: &Snapshot) -> Vec<Code> {
    let mut state = CycleState::new();
    let (_, s) = PodTopologySpread::default().pre_filter(&mut state, pod, snap);
    if s.is_skip() {
        return snap.nodes().iter().map(|_| Code::Success).collect();
    }
    assert!(s.is_success(), "{s}");
    snap.nodes()
        .iter()
        .map(|n| PodTopologySpread::default().filter(&state, pod, n).code())
        .collect()
}

const S: Code = Code::Success;
const F: Code = Code::Unschedulable;
const X: Code = Code::UnschedulableAndUnresolvable;

#[test]
fn filter_single_constraint() {
    let hard = |skew, key: &str, extra: Value| constraint(skew, key, "DoNotSchedule", extra);
    let me = |spec: Value| pod("p", "default", json!({"foo": ""}), spec);
    let cases: Vec<SpreadCase> = vec![
        (
            "no constraints",
            me(json!({})),
            vec![foo(3), vec![], vec![], vec![]],
            vec![S, S, S, S],
        ),
        (
            "soft constraints only",
            me(spread(vec![constraint(
                1,
                "zone",
                "ScheduleAnyway",
                json!({}),
            )])),
            vec![foo(3), vec![], vec![], vec![]],
            vec![S, S, S, S],
        ),
        (
            "no existing pods",
            me(spread(vec![hard(1, "zone", json!({}))])),
            vec![vec![], vec![], vec![], vec![]],
            vec![S, S, S, S],
        ),
        (
            "3/3 across zones: all fit",
            me(spread(vec![hard(1, "zone", json!({}))])),
            vec![foo(2), foo(1), foo(2), foo(1)],
            vec![S, S, S, S],
        ),
        (
            "2/0 across zones: only zone2 fits",
            me(spread(vec![hard(1, "zone", json!({}))])),
            vec![foo(1), foo(1), vec![], vec![]],
            vec![F, F, S, S],
        ),
        (
            "2/1/0/3 by node: only node-x fits",
            me(spread(vec![hard(1, LABEL_HOSTNAME, json!({}))])),
            vec![foo(2), foo(1), vec![], foo(3)],
            vec![F, F, S, F],
        ),
        (
            "2/1/0/3 by node, maxSkew 2: node-b and node-x fit",
            me(spread(vec![hard(2, LABEL_HOSTNAME, json!({}))])),
            vec![foo(2), foo(1), vec![], foo(3)],
            vec![F, S, S, F],
        ),
        (
            "the pod does not match its own selector: counted without +1",
            pod(
                "p",
                "default",
                json!({"bar": ""}),
                spread(vec![hard(1, LABEL_HOSTNAME, json!({}))]),
            ),
            vec![foo(2), foo(1), vec![], foo(3)],
            vec![F, S, S, F],
        ),
        (
            "pods of other namespaces do not count",
            me(spread(vec![hard(1, "zone", json!({}))])),
            vec![
                vec![
                    pod("o1", "other", json!({"foo": ""}), json!({})),
                    pod("o2", "other", json!({"foo": ""}), json!({})),
                ],
                vec![],
                vec![],
                vec![],
            ],
            vec![S, S, S, S],
        ),
        (
            "pods being deleted do not count",
            me(spread(vec![hard(1, "zone", json!({}))])),
            vec![
                {
                    let mut v = foo(2);
                    for p in &mut v {
                        p.metadata.deletion_timestamp =
                            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                                k8s_openapi::jiff::Timestamp::from_second(1_700_000_000)
                                    .expect("valid time"),
                            ));
                    }
                    v
                },
                vec![],
                vec![],
                vec![],
            ],
            vec![S, S, S, S],
        ),
        (
            "1/1/1/1 by node: all fit",
            me(spread(vec![hard(1, LABEL_HOSTNAME, json!({}))])),
            vec![foo(1), foo(1), foo(1), foo(1)],
            vec![S, S, S, S],
        ),
        (
            "1/1/1/1 by node, minDomains 5: global minimum is 0",
            me(spread(vec![hard(
                1,
                LABEL_HOSTNAME,
                json!({"minDomains": 5}),
            )])),
            vec![foo(1), foo(1), foo(1), foo(1)],
            vec![F, F, F, F],
        ),
        (
            "nodeAffinityPolicy Honor: zone2 is not a domain for a pod bound to zone1",
            me(
                json!({"nodeSelector": {"zone": "zone1"}, "topologySpreadConstraints": [hard(1, "zone", json!({}))]}),
            ),
            vec![foo(1), vec![], vec![], vec![]],
            vec![S, S, S, S],
        ),
        (
            "nodeAffinityPolicy Ignore: zone2 counts with 0",
            me(
                json!({"nodeSelector": {"zone": "zone1"}, "topologySpreadConstraints": [hard(1, "zone", json!({"nodeAffinityPolicy": "Ignore"}))]}),
            ),
            vec![foo(1), vec![], vec![], vec![]],
            vec![F, F, S, S],
        ),
        (
            "matchLabelKeys: only pods of the same revision count",
            pod(
                "p",
                "default",
                json!({"foo": "", "rev": "2"}),
                spread(vec![hard(1, "zone", json!({"matchLabelKeys": ["rev"]}))]),
            ),
            vec![
                vec![
                    pod("e1", "default", json!({"foo": "", "rev": "1"}), json!({})),
                    pod("e2", "default", json!({"foo": "", "rev": "1"}), json!({})),
                ],
                vec![],
                vec![],
                vec![],
            ],
            vec![S, S, S, S],
        ),
    ];
    for (name, p, pods, want) in cases {
        assert_eq!(filter_all(&p, &snap(four_nodes(), pods)), want, "{name}");
    }
}

#[test]
fn filter_taints_policy_and_missing_labels() {
    let mut nodes = four_nodes();
    for n in &mut nodes[2..] {
        n.spec = serde_json::from_value(
            json!({"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}),
        )
        .ok();
    }
    let pods = || vec![foo(1), vec![], vec![], vec![]];
    let with = |extra: Value| {
        pod(
            "p",
            "default",
            json!({"foo": ""}),
            spread(vec![constraint(1, "zone", "DoNotSchedule", extra)]),
        )
    };
    // Ignore (default): the tainted zone2 counts with 0, so zone1 is one too many.
    assert_eq!(
        filter_all(&with(json!({})), &snap(nodes.clone(), pods())),
        vec![F, F, S, S]
    );
    // Honor: zone2 is not a domain, zone1 is the minimum.
    assert_eq!(
        filter_all(
            &with(json!({"nodeTaintsPolicy": "Honor"})),
            &snap(nodes, pods())
        ),
        vec![S, S, S, S]
    );
    // A node without the topology label is rejected outright.
    let mut nodes = four_nodes();
    nodes.push(node("node-z", json!({}), json!({}), json!({})));
    let mut pods = pods();
    pods.push(vec![]);
    assert_eq!(
        filter_all(&with(json!({})), &snap(nodes, pods)),
        vec![F, F, S, S, X]
    );
}

#[test]
fn filter_two_constraints() {
    // zone (skew 1) and node (skew 1): zone1 holds 2, zone2 holds 1 on node-x; only
    // node-y keeps both spreads.
    let p = pod(
        "p",
        "default",
        json!({"foo": ""}),
        spread(vec![
            constraint(1, "zone", "DoNotSchedule", json!({})),
            constraint(1, LABEL_HOSTNAME, "DoNotSchedule", json!({})),
        ]),
    );
    assert_eq!(
        filter_all(
            &p,
            &snap(four_nodes(), vec![foo(1), foo(1), foo(1), vec![]])
        ),
        vec![F, F, F, S]
    );
}

#[test]
fn add_and_remove_pod_update_the_counts() {
    let p = pod(
        "p",
        "default",
        json!({"foo": ""}),
        spread(vec![constraint(1, "zone", "DoNotSchedule", json!({}))]),
    );
    let s = snap(four_nodes(), vec![foo(1), vec![], vec![], vec![]]);
    let mut state = CycleState::new();
    assert!(PodTopologySpread::default()
        .pre_filter(&mut state, &p, &s)
        .1
        .is_success());
    let a = &s.nodes()[0];
    assert_eq!(PodTopologySpread::default().filter(&state, &p, a).code(), F);
    let victim = a.pods()[0].clone();
    assert!(PodTopologySpread::default()
        .remove_pod(&mut state, &p, &victim, a)
        .is_success());
    assert_eq!(PodTopologySpread::default().filter(&state, &p, a).code(), S);
    assert!(PodTopologySpread::default()
        .add_pod(&mut state, &p, &victim, a)
        .is_success());
    assert_eq!(PodTopologySpread::default().filter(&state, &p, a).code(), F);
}

fn scores(p: &Pod, s: &Snapshot) -> Option<Vec<i64>> {
    let mut state = CycleState::new();
    let nodes = s.nodes().to_vec();
    let st = PodTopologySpread::default().pre_score(&mut state, p, &nodes, s);
    if st.is_skip() {
        return None;
    }
    assert!(st.is_success(), "{st}");
    let mut v: Vec<NodeScore> = nodes
        .iter()
        .map(|n| NodeScore {
            name: n.name(),
            score: PodTopologySpread::default()
                .score(&state, p, n)
                .expect("score"),
        })
        .collect();
    assert!(PodTopologySpread::default()
        .normalize_score(&state, p, &mut v)
        .is_success());
    Some(v.into_iter().map(|n| n.score).collect())
}

#[test]
fn score() {
    let soft = |key: &str| {
        pod(
            "p",
            "default",
            json!({"foo": ""}),
            spread(vec![constraint(1, key, "ScheduleAnyway", json!({}))]),
        )
    };
    assert_eq!(
        scores(
            &pod("p", "default", json!({}), json!({})),
            &snap(four_nodes(), vec![vec![]; 4])
        ),
        None
    );
    assert_eq!(
        scores(&soft("zone"), &snap(four_nodes(), vec![vec![]; 4])),
        Some(vec![100; 4])
    );
    // 2/1/0/3 by node over 4 candidates: raw 4, 2, 0, 5.
    assert_eq!(
        scores(
            &soft(LABEL_HOSTNAME),
            &snap(four_nodes(), vec![foo(2), foo(1), vec![], foo(3)])
        ),
        Some(vec![20, 60, 100, 0])
    );
    // 3/1 by zone: raw 4 and 1.
    assert_eq!(
        scores(
            &soft("zone"),
            &snap(four_nodes(), vec![foo(2), foo(1), foo(1), vec![]])
        ),
        Some(vec![25, 25, 100, 100])
    );
    // A node without the label scores 0 and does not count.
    let mut nodes = four_nodes();
    nodes.push(node("node-z", json!({}), json!({}), json!({})));
    assert_eq!(
        scores(
            &soft("zone"),
            &snap(nodes, vec![foo(2), foo(1), foo(1), vec![], foo(5)])
        ),
        Some(vec![25, 25, 100, 100, 0])
    );
}

/// Nodes a, b in zone1 and x, y in zone2 (the well-known zone label), plus `extra`
/// nodes with only a hostname.
fn zoned_nodes(extra: &[&str]) -> Vec<Node> {
    let mut nodes: Vec<Node> = [
        ("node-a", "zone1"),
        ("node-b", "zone1"),
        ("node-x", "zone2"),
        ("node-y", "zone2"),
    ]
    .into_iter()
    .map(|(n, z)| {
        node(
            n,
            json!({LABEL_ZONE: z, LABEL_HOSTNAME: n}),
            json!({}),
            json!({}),
        )
    })
    .collect();
    for n in extra {
        nodes.push(node(n, json!({LABEL_HOSTNAME: n}), json!({}), json!({})));
    }
    nodes
}

fn web(n: usize) -> Vec<Pod> {
    (0..n)
        .map(|i| {
            pod(
                &format!("w{i}"),
                "default",
                json!({"app": "web"}),
                json!({}),
            )
        })
        .collect()
}

/// A pod of ReplicaSet `web` (selector app=web), with no constraints of its own.
fn rs_pod() -> Pod {
    let mut p = pod("p", "default", json!({"app": "web"}), json!({}));
    p.metadata.owner_references = Some(vec![serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "rs",
        "controller": true}))
    .expect("owner")]);
    p
}

fn with_web_rs(s: Snapshot) -> Snapshot {
    let mut w = crate::cache::Workloads::default();
    w.set_replica_set(
        &serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {}}}))
        .expect("rs"),
    );
    s.with_workloads(w)
}

fn scores_with(plugin: &PodTopologySpread, p: &Pod, s: &Snapshot) -> Option<Vec<i64>> {
    let mut state = CycleState::new();
    let nodes = s.nodes().to_vec();
    let st = plugin.pre_score(&mut state, p, &nodes, s);
    if st.is_skip() {
        return None;
    }
    assert!(st.is_success(), "{st}");
    let mut v: Vec<NodeScore> = nodes
        .iter()
        .map(|n| NodeScore {
            name: n.name(),
            score: plugin.score(&state, p, n).expect("score"),
        })
        .collect();
    assert!(plugin.normalize_score(&state, p, &mut v).is_success());
    Some(v.into_iter().map(|n| n.score).collect())
}

/// System defaults (hostname maxSkew 3, zone maxSkew 5) over the pods of the pod's
/// ReplicaSet, with kube-scheduler's arithmetic: raw `sum(count * ln(domains + 2) +
/// maxSkew - 1)`, rounded, then normalized.
#[test]
fn system_default_constraints_spread_a_workload() {
    let plugin = PodTopologySpread::default();
    let pods = vec![web(2), vec![], web(1), vec![]];
    // Without a workload the pod gets no defaults.
    let bare = snap(zoned_nodes(&[]), pods.clone());
    assert_eq!(scores_with(&plugin, &rs_pod(), &bare), None);
    // Hostname weight ln 6, zone weight ln 4; zone1 has 2, zone2 1:
    // raw 12.36, 8.77, 9.18, 7.39 -> 12, 9, 9, 7.
    let s = with_web_rs(snap(zoned_nodes(&[]), pods.clone()));
    assert_eq!(
        scores_with(&plugin, &rs_pod(), &s),
        Some(vec![58, 83, 83, 100])
    );
    // Pods of other workloads or namespaces do not count.
    let mut others = pods.clone();
    others[1] = vec![
        pod("o", "default", json!({"app": "db"}), json!({})),
        pod("q", "other", json!({"app": "web"}), json!({})),
    ];
    let s = with_web_rs(snap(zoned_nodes(&[]), others));
    assert_eq!(
        scores_with(&plugin, &rs_pod(), &s),
        Some(vec![58, 83, 83, 100])
    );
    // Under the system defaults a node without a zone label is not ignored: its
    // missing value is the domain "" (3 zone domains, 5 hostnames), and it scores
    // only the hostname term: raw 13.11, 9.22, 9.56, 7.61, 2 -> 13, 9, 10, 8, 2.
    let mut five = pods.clone();
    five.push(vec![]);
    let s = with_web_rs(snap(zoned_nodes(&["node-z"]), five.clone()));
    assert_eq!(
        scores_with(&plugin, &rs_pod(), &s),
        Some(vec![15, 46, 38, 53, 100])
    );
    // The same constraints given as a list ignore that node (score 0), as
    // kube-scheduler does for non-system defaults.
    let listed = PodTopologySpread::with_default_constraints(system_default_constraints());
    let four = with_web_rs(snap(zoned_nodes(&[]), pods.clone()));
    assert_eq!(
        scores_with(&listed, &rs_pod(), &four),
        Some(vec![58, 83, 83, 100])
    );
    let last = scores_with(&listed, &rs_pod(), &s).expect("scored");
    assert_eq!(last[4], 0);
    // A pod with constraints of its own does not get the defaults; the system
    // defaults never filter.
    let own = {
        let mut p = rs_pod();
        p.spec = Some(
            serde_json::from_value(json!({"containers": [],
                "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": LABEL_ZONE,
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"app": "web"}}}]}))
            .expect("spec"),
        );
        p
    };
    assert_eq!(scores_with(&plugin, &own, &s), None);
    let mut state = CycleState::new();
    let (_, st) = plugin.pre_filter(&mut state, &rs_pod(), &s);
    assert!(st.is_skip(), "{st}");
}

#[test]
fn list_defaults_can_filter() {
    let plugin = PodTopologySpread::from_args(&json!({"defaultingType": "List",
        "defaultConstraints": [{"maxSkew": 1, "topologyKey": LABEL_ZONE,
            "whenUnsatisfiable": "DoNotSchedule"}]}))
    .expect("args");
    // zone1 holds 2 web pods, zone2 none: only zone2 keeps the skew at most 1.
    let s = with_web_rs(snap(zoned_nodes(&[]), vec![web(1), web(1), vec![], vec![]]));
    let mut state = CycleState::new();
    let (_, st) = plugin.pre_filter(&mut state, &rs_pod(), &s);
    assert!(st.is_success(), "{st}");
    let codes: Vec<Code> = s
        .nodes()
        .iter()
        .map(|n| plugin.filter(&state, &rs_pod(), n).code())
        .collect();
    assert_eq!(codes, vec![F, F, S, S]);
}

#[test]
fn default_constraint_args_are_validated() {
    assert_eq!(
        PodTopologySpread::from_args(&json!({}))
            .expect("empty")
            .default_constraints(),
        system_default_constraints().as_slice()
    );
    let c = json!({"maxSkew": 2, "topologyKey": "rack", "whenUnsatisfiable": "ScheduleAnyway"});
    let bad = [
        json!({"defaultConstraints": [c]}),
        json!({"defaultingType": "List", "defaultConstraints": [c, c]}),
        json!({"defaultingType": "List", "defaultConstraints": [
            {"maxSkew": 0, "topologyKey": "rack", "whenUnsatisfiable": "ScheduleAnyway"}]}),
        json!({"defaultingType": "List", "defaultConstraints": [
            {"maxSkew": 1, "topologyKey": "", "whenUnsatisfiable": "ScheduleAnyway"}]}),
        json!({"defaultingType": "List", "defaultConstraints": [
            {"maxSkew": 1, "topologyKey": "rack", "whenUnsatisfiable": "Maybe"}]}),
        json!({"defaultingType": "List", "defaultConstraints": [
            {"maxSkew": 1, "topologyKey": "rack", "whenUnsatisfiable": "ScheduleAnyway",
             "labelSelector": {"matchLabels": {"a": "b"}}}]}),
        json!({"defaultingType": "Sometimes"}),
        json!([]),
    ];
    for args in bad {
        assert!(PodTopologySpread::from_args(&args).is_err(), "{args}");
    }
    let list = PodTopologySpread::from_args(&json!({"defaultingType": "List",
        "defaultConstraints": [c]}))
    .expect("list");
    assert_eq!(list.default_constraints().len(), 1);
    // An empty list turns defaulting off.
    let none = PodTopologySpread::from_args(&json!({"defaultingType": "List"})).expect("none");
    let s = with_web_rs(snap(zoned_nodes(&[]), vec![web(1), vec![], vec![], vec![]]));
    assert_eq!(scores_with(&none, &rs_pod(), &s), None);
}

/// The counts read per domain (every node with the key counted) and per node over a
/// walk (forced here by an inclusion policy that excludes no node) agree, including
/// pods on nodes without the key (the domain "" under the system defaults), on a node
/// whose value is "", terminating pods and pods of other namespaces.
#[test]
fn per_domain_and_per_node_counts_agree() {
    let mut nodes = zoned_nodes(&["node-z"]);
    nodes.push(node(
        "node-e",
        json!({LABEL_ZONE: "", LABEL_HOSTNAME: "node-e"}),
        json!({}),
        json!({}),
    ));
    let mut gone = pod("t", "default", json!({"app": "web"}), json!({}));
    gone.metadata.deletion_timestamp = serde_json::from_value(json!("2026-11-23T00:00:00Z")).ok();
    let other_ns = pod("q", "other", json!({"app": "web"}), json!({}));
    let pods = vec![web(3), vec![gone, other_ns], web(1), vec![], web(2), web(1)];
    let s = with_web_rs(snap(nodes, pods));
    let plugin = PodTopologySpread::default();
    // System defaults: per domain as is; per node when a node selector (that every
    // node satisfies) makes nodeAffinityPolicy worth checking.
    let mut selective = rs_pod();
    if let Some(spec) = selective.spec.as_mut() {
        spec.affinity = serde_json::from_value(json!({"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": LABEL_HOSTNAME, "operator": "Exists"}]}]}}}))
        .ok();
    }
    let fast = scores_with(&plugin, &rs_pod(), &s).expect("scored");
    assert_eq!(scores_with(&plugin, &selective, &s), Some(fast.clone()));
    // Counts: hostnames a 3, b 0 (terminating, other namespace), x 1, y 0, z 2, e 1;
    // zones zone1 3, zone2 1, "" 3 (node-z without the label, node-e with value "").
    // Raw (ln 8 per hostname pod + 2, ln 5 per zone pod + 4; node-z has no zone term):
    // 17.07, 10.83, 9.69, 7.61, 6.16, 12.9 -> 17, 11, 10, 8, 6, 13.
    assert_eq!(fast, [35, 70, 76, 88, 100, 58]);
    // Own constraints, soft and hard: default policies (per domain) against
    // nodeTaintsPolicy Honor on untainted nodes (per node).
    for when in ["ScheduleAnyway", "DoNotSchedule"] {
        let own = |extra: Value| {
            pod(
                "p",
                "default",
                json!({"app": "web"}),
                spread(vec![json!({"maxSkew": 1, "topologyKey": LABEL_ZONE,
                    "whenUnsatisfiable": when, "labelSelector": {"matchLabels": {"app": "web"}},
                    "nodeTaintsPolicy": extra})]),
            )
        };
        let (per_domain, per_node) = (own(json!(null)), own(json!("Honor")));
        assert_eq!(
            scores_with(&plugin, &per_domain, &s),
            scores_with(&plugin, &per_node, &s),
            "{when}"
        );
        assert_eq!(
            filter_all(&per_domain, &s),
            filter_all(&per_node, &s),
            "{when}"
        );
    }
}

/// Two constraints (zone and hostname) on nodes that all have both keys are counted
/// per domain; the same constraints with nodeTaintsPolicy Honor (no taints) are
/// counted per node; both agree. With a node lacking the zone, both walk.
#[test]
fn two_keys_per_domain_and_per_node_agree() {
    let pods = vec![web(2), web(1), vec![], web(3)];
    let policy = |honor: bool, when: &str| {
        let extra = if honor {
            json!({"nodeTaintsPolicy": "Honor"})
        } else {
            json!({})
        };
        let mut zone = json!({"maxSkew": 1, "topologyKey": LABEL_ZONE, "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app": "web"}}});
        let mut host = json!({"maxSkew": 2, "topologyKey": LABEL_HOSTNAME, "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app": "web"}}});
        for (k, v) in extra.as_object().into_iter().flatten() {
            zone[k] = v.clone();
            host[k] = v.clone();
        }
        pod(
            "p",
            "default",
            json!({"app": "web"}),
            spread(vec![zone, host]),
        )
    };
    let plugin = PodTopologySpread::default();
    for extra in [vec![], vec!["node-z"]] {
        let mut all = pods.clone();
        all.extend(extra.iter().map(|_| web(1)));
        let s = snap(zoned_nodes(&extra), all);
        for when in ["ScheduleAnyway", "DoNotSchedule"] {
            let (fast, walk) = (policy(false, when), policy(true, when));
            assert_eq!(
                filter_all(&fast, &s),
                filter_all(&walk, &s),
                "{when} {extra:?}"
            );
            assert_eq!(
                scores_with(&plugin, &fast, &s),
                scores_with(&plugin, &walk, &s),
                "{when} {extra:?}"
            );
        }
    }
    // Zone 1 has 3, zone 2 has 3: every node passes the zone constraint; with
    // node-x empty (min 0, maxSkew 2) node-a (2) and node-y (3) fail the hostname one.
    let s = snap(zoned_nodes(&[]), pods);
    let codes = filter_all(&policy(false, "DoNotSchedule"), &s);
    assert_eq!(codes, [F, S, S, F]);
}
