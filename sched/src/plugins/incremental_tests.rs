//! PodTopologySpread and InterPodAffinity on a snapshot kept up to date step by step
//! (its pod counts incremental) decide exactly as on a snapshot built afresh from the
//! same cache, for pods with every kind of spread constraint and affinity term, after
//! random pod and node changes.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Value};

use super::inter_pod_affinity::InterPodAffinity;
use super::pod_topology_spread::PodTopologySpread;
use crate::cache::{Cache, Snapshot};
use crate::framework::{
    Code, CycleState, FilterPlugin, NodeScore, PreFilterPlugin, PreScorePlugin, ScorePlugin,
};

fn node(name: &str, zone: Option<&str>) -> Node {
    let mut labels = json!({"kubernetes.io/hostname": name});
    if let Some(z) = zone {
        labels["zone"] = json!(z);
    }
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).expect("node")
}

fn pod(uid: &str, ns: &str, node: &str, labels: Value, spec: Value) -> Pod {
    let mut spec = spec;
    spec["containers"] = json!([]);
    if !node.is_empty() {
        spec["nodeName"] = json!(node);
    }
    serde_json::from_value(json!({
        "metadata": {"name": uid, "namespace": ns, "uid": uid, "labels": labels},
        "spec": spec}))
    .expect("pod")
}

fn term(app: &str, key: &str) -> Value {
    json!({"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key})
}

/// Specs of existing pods (some with terms of their own).
fn existing_spec(pick: u64) -> Value {
    match pick {
        0 => json!({"affinity": {"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term("web", "kubernetes.io/hostname")]}}}),
        1 => json!({"affinity": {"podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [term("db", "zone")],
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 5, "podAffinityTerm": term("web", "zone")}]}}}),
        2 => json!({"affinity": {"podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 3, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "web"}},
                    "namespaceSelector": {}, "topologyKey": "zone"}}]}}}),
        _ => json!({}),
    }
}

/// `p` as a pod of ReplicaSet `web` (system default spread constraints).
fn owned_by_web_rs(mut p: Pod) -> Pod {
    p.metadata.owner_references = serde_json::from_value(json!([{"apiVersion": "apps/v1",
        "kind": "ReplicaSet", "name": "web", "uid": "rs", "controller": true}]))
    .ok();
    p
}

/// The incoming pods whose decisions are compared.
fn incoming() -> Vec<Pod> {
    let spread = |key: &str, when: &str, extra: Value| {
        let mut c = json!({"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app": "web"}}});
        for (k, v) in extra.as_object().into_iter().flatten() {
            c[k] = v.clone();
        }
        c
    };
    let web = json!({"app": "web"});
    vec![
        pod(
            "s1",
            "a",
            "",
            web.clone(),
            json!({"topologySpreadConstraints": [
            spread("zone", "DoNotSchedule", json!({"minDomains": 3}))]}),
        ),
        pod(
            "s2",
            "a",
            "",
            web.clone(),
            json!({"topologySpreadConstraints": [
            spread("zone", "ScheduleAnyway", json!({})),
            spread("kubernetes.io/hostname", "DoNotSchedule", json!({"nodeTaintsPolicy": "Honor"}))]}),
        ),
        pod(
            "s3",
            "a",
            "",
            web.clone(),
            json!({"topologySpreadConstraints": [
            spread("zone", "DoNotSchedule", json!({"matchLabelKeys": ["tier"]}))],
            "nodeSelector": {"kubernetes.io/hostname": "n1"}}),
        ),
        pod(
            "a1",
            "a",
            "",
            web.clone(),
            json!({"affinity": {
            "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("web", "kubernetes.io/hostname")]},
            "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 7, "podAffinityTerm": term("db", "zone")}]}}}),
        ),
        pod(
            "a2",
            "b",
            "",
            json!({"app": "db"}),
            json!({"affinity": {"podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "web"}}, "namespaces": ["a", "b"], "topologyKey": "zone"},
                {"labelSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
                    "namespaces": ["a"], "topologyKey": "kubernetes.io/hostname"}]}}}),
        ),
        pod(
            "s4",
            "a",
            "",
            web.clone(),
            json!({"topologySpreadConstraints": [
            spread("zone", "ScheduleAnyway", json!({}))]}),
        ),
        owned_by_web_rs(pod("d1", "a", "", web.clone(), json!({}))),
        pod("plain", "a", "", web, json!({})),
    ]
}

/// Filter codes and normalized scores of both plugins for `p` on `snap`, sorted.
fn decide(p: &Pod, snap: &Snapshot) -> Vec<String> {
    let spread = PodTopologySpread::default();
    let affinity = InterPodAffinity::default();
    let mut out = Vec::new();
    let mut state = CycleState::new();
    let (_, s1) = spread.pre_filter(&mut state, p, snap);
    let (_, s2) = affinity.pre_filter(&mut state, p, snap);
    for n in snap.nodes() {
        let mut codes = Vec::new();
        if !s1.is_skip() {
            codes.push(spread.filter(&state, p, n));
        }
        if !s2.is_skip() {
            codes.push(affinity.filter(&state, p, n));
        }
        for c in codes {
            assert_ne!(c.code(), Code::Error, "{c}");
            out.push(format!("{} {:?} {}", n.name(), c.code(), c.message()));
        }
    }
    let nodes = snap.nodes().to_vec();
    let scorers: [&dyn ScorePluginWithPre; 2] = [&spread, &affinity];
    for plugin in scorers {
        let mut state = CycleState::new();
        if plugin.pre_score(&mut state, p, &nodes, snap).is_skip() {
            out.push("skip".into());
            continue;
        }
        let mut scores: Vec<NodeScore> = nodes
            .iter()
            .map(|n| NodeScore {
                name: n.name(),
                score: plugin.score(&state, p, n).expect("score"),
            })
            .collect();
        assert!(plugin.normalize_score(&state, p, &mut scores).is_success());
        out.extend(scores.iter().map(|s| format!("{} {}", s.name, s.score)));
    }
    // Node order differs between snapshots built in different orders.
    out.sort();
    out
}

/// PreScore and Score of one plugin.
trait ScorePluginWithPre: PreScorePlugin + ScorePlugin {}
impl<T: PreScorePlugin + ScorePlugin> ScorePluginWithPre for T {}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn incremental_and_fresh_snapshots_decide_alike() {
    let mut rng = Rng(0x0dd5_eed5_0000_0007);
    let mut cache = Cache::new(Duration::from_secs(10));
    let zones = [Some("z1"), Some("z2"), Some("z3"), None];
    for i in 0..6 {
        cache.add_node(node(&format!("n{i}"), zones[i % 4]));
    }
    for ns in ["a", "b"] {
        cache.set_namespace(ns, [("team".to_owned(), ns.to_owned())].into());
    }
    cache.workloads_mut().set_replica_set(
        &serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "a"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {}}}))
        .expect("rs"),
    );
    let mut snap = Snapshot::default();
    let pods = incoming();
    let apps = ["web", "db", "cache"];
    for step in 0..120 {
        let n = format!("n{}", rng.below(6));
        let uid = format!("p{}", rng.below(30));
        let labels = match rng.below(3) {
            0 => json!({"app": apps[rng.below(3) as usize], "tier": "t"}),
            _ => json!({"app": apps[rng.below(3) as usize]}),
        };
        let ns = ["a", "b"][rng.below(2) as usize];
        let mut p = pod(&uid, ns, &n, labels, existing_spec(rng.below(6)));
        if rng.below(10) == 0 {
            p.metadata.deletion_timestamp =
                serde_json::from_value(json!("2026-11-23T00:00:00Z")).ok();
        }
        match rng.below(8) {
            0..=2 => cache.add_pod(p),
            3 => {
                let _ = cache.assume_pod(p);
            }
            4 => cache.forget_pod(&uid),
            5 => cache.remove_pod(&uid),
            6 => cache.add_node(node(&n, zones[rng.below(4) as usize])),
            _ => cache.remove_node(&n),
        }
        if rng.below(2) == 0 {
            continue;
        }
        cache.update_snapshot(&mut snap);
        let mut fresh = Snapshot::default();
        cache.mark_all_dirty();
        cache.update_snapshot(&mut fresh);
        for p in &pods {
            assert_eq!(
                decide(p, &snap),
                decide(p, &fresh),
                "step {step}, pod {:?}",
                p.metadata.name
            );
        }
    }
}
