//! The snapshot's incremental pod counts against a from-scratch count after every kind
//! of change the cache makes: pods added, removed, updated, assumed, forgotten,
//! confirmed elsewhere and expired; nodes relabelled, removed and added back.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Value};
use skiff_core::selector::LabelSelector;

use super::super::affinity_index::term_key;
use super::super::topology_counts::{IDLE_LOOKUPS, MAX_SELECTIONS};
use super::super::{Cache, DomainCounts, NodeCounts, PodSelection, Snapshot, TermKind};

const KEYS: [&str; 2] = ["zone", "kubernetes.io/hostname"];
const KINDS: [TermKind; 4] = [
    TermKind::RequiredAffinity,
    TermKind::RequiredAntiAffinity,
    TermKind::PreferredAffinity,
    TermKind::PreferredAntiAffinity,
];

fn node(name: &str, zone: Option<&str>) -> Node {
    let mut labels = json!({"kubernetes.io/hostname": name});
    if let Some(z) = zone {
        labels["zone"] = json!(z);
    }
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).expect("node")
}

fn pod(uid: &str, ns: &str, node: &str, labels: Value, affinity: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": uid, "namespace": ns, "uid": uid, "labels": labels},
        "spec": {"nodeName": node, "containers": [], "affinity": affinity}}))
    .expect("pod")
}

fn terminating(mut p: Pod) -> Pod {
    p.metadata.deletion_timestamp = serde_json::from_value(json!("2026-11-23T00:00:00Z")).ok();
    p
}

fn anti(app: &str, key: &str) -> Value {
    json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}]}})
}

fn preferred(app: &str, key: &str, weight: i32) -> Value {
    json!({"podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}],
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": weight,
            "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}}]},
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 3,
            "podAffinityTerm": {"namespaceSelector": {}, "labelSelector": {"matchLabels": {"app": app}}, "topologyKey": "zone"}}]}})
}

fn sel(s: &str) -> LabelSelector {
    LabelSelector::parse(s).expect("selector")
}

fn selections() -> Vec<PodSelection> {
    vec![
        PodSelection::new(["a".to_owned()], vec![sel("app=web")], false),
        PodSelection::new(
            ["a".to_owned(), "b".to_owned()],
            vec![sel("app in (web,db)"), sel("tier")],
            true,
        ),
        PodSelection::new(["b".to_owned()], vec![LabelSelector::everything()], true),
    ]
}

fn brute_per_node(snap: &Snapshot, s: &PodSelection) -> NodeCounts {
    let mut m = NodeCounts::new();
    for n in snap.nodes() {
        let c = n.pods().iter().filter(|p| s.matches(p)).count() as i64;
        if c > 0 {
            m.insert(n.name_arc(), c);
        }
    }
    m
}

fn brute_per_domain(snap: &Snapshot, s: &PodSelection, key: &str) -> DomainCounts {
    let mut m = DomainCounts::new();
    for n in snap.nodes() {
        let Some(v) = n.labels().and_then(|l| l.get(key)) else {
            continue;
        };
        let c = n.pods().iter().filter(|p| s.matches(p)).count() as i64;
        if c > 0 {
            *m.entry(v.clone()).or_insert(0) += c;
        }
    }
    m
}

/// Term identity → per-domain pods, from the snapshot's index.
fn indexed_terms(snap: &Snapshot, kind: TermKind) -> BTreeMap<String, DomainCounts> {
    snap.existing_affinity_terms()
        .of_kind(kind)
        .map(|t| (term_key(&t.term, t.weight), (*t.domains).clone()))
        .collect()
}

/// Term identity → per-domain pods, counted over every pod.
fn brute_terms(snap: &Snapshot, kind: TermKind) -> BTreeMap<String, DomainCounts> {
    let mut m: BTreeMap<String, DomainCounts> = BTreeMap::new();
    for n in snap.nodes() {
        for p in n.pods() {
            let Some(a) = &p.affinity else { continue };
            let terms: Vec<_> = match kind {
                TermKind::RequiredAffinity => a.required_affinity.iter().map(|t| (t, 1)).collect(),
                TermKind::RequiredAntiAffinity => {
                    a.required_anti_affinity.iter().map(|t| (t, 1)).collect()
                }
                TermKind::PreferredAffinity => a
                    .preferred_affinity
                    .iter()
                    .map(|t| (&t.term, t.weight))
                    .collect(),
                TermKind::PreferredAntiAffinity => a
                    .preferred_anti_affinity
                    .iter()
                    .map(|t| (&t.term, t.weight))
                    .collect(),
            };
            for (t, w) in terms {
                let domains = m.entry(term_key(t, w)).or_default();
                if let Some(v) = n.labels().and_then(|l| l.get(&t.topology_key)) {
                    *domains.entry(v.clone()).or_insert(0) += 1;
                }
            }
        }
    }
    m
}

/// Every registered count of `snap` equals a from-scratch count, and a fresh
/// snapshot of the same cache agrees.
fn check(cache: &mut Cache, snap: &mut Snapshot, step: &str) {
    cache.update_snapshot(snap);
    let mut fresh = Snapshot::default();
    cache.mark_all_dirty();
    cache.update_snapshot(&mut fresh);
    for s in selections() {
        let per_node = brute_per_node(snap, &s);
        assert_eq!(
            *snap.matching_pods_per_node(&s),
            per_node,
            "{step}: per node"
        );
        assert_eq!(
            snap.matching_pods_total(&s),
            per_node.values().sum::<i64>(),
            "{step}: total"
        );
        for key in KEYS {
            let want = brute_per_domain(snap, &s, key);
            assert_eq!(
                *snap.matching_pods_per_domain(&s, key),
                want,
                "{step}: {key}"
            );
            assert_eq!(
                *fresh.matching_pods_per_domain(&s, key),
                want,
                "{step}: fresh {key}"
            );
        }
    }
    for kind in KINDS {
        let want = brute_terms(snap, kind);
        assert_eq!(indexed_terms(snap, kind), want, "{step}: {kind:?} terms");
        assert_eq!(
            indexed_terms(&fresh, kind),
            want,
            "{step}: fresh {kind:?} terms"
        );
    }
}

#[test]
fn counts_follow_every_cache_change() {
    let mut cache = Cache::new(Duration::from_secs(10));
    let mut snap = Snapshot::default();
    cache.add_node(node("n1", Some("z1")));
    cache.add_node(node("n2", Some("z1")));
    cache.add_node(node("n3", Some("z2")));
    cache.add_node(node("n4", None));
    cache.add_pod(pod(
        "w1",
        "a",
        "n1",
        json!({"app": "web", "tier": "f"}),
        json!(null),
    ));
    cache.add_pod(pod(
        "w2",
        "a",
        "n3",
        json!({"app": "web"}),
        anti("web", "zone"),
    ));
    cache.add_pod(pod(
        "d1",
        "b",
        "n4",
        json!({"app": "db", "tier": "b"}),
        json!(null),
    ));
    // Registered on first use from one walk.
    check(&mut cache, &mut snap, "initial");
    assert_eq!(
        snap.matching_pods_per_domain(&selections()[0], "zone")
            .get("z1"),
        Some(&1)
    );

    cache.add_pod(pod(
        "w3",
        "a",
        "n2",
        json!({"app": "web"}),
        anti("web", "kubernetes.io/hostname"),
    ));
    check(&mut cache, &mut snap, "add");
    assert_eq!(
        snap.matching_pods_per_domain(&selections()[0], "zone")
            .get("z1"),
        Some(&2)
    );

    // An update that stops matching, and one that starts terminating.
    cache.add_pod(pod("w1", "a", "n1", json!({"app": "other"}), json!(null)));
    cache.add_pod(terminating(pod(
        "w3",
        "a",
        "n2",
        json!({"app": "web"}),
        anti("web", "zone"),
    )));
    check(&mut cache, &mut snap, "update");
    assert!(snap
        .matching_pods_per_domain(&selections()[0], "zone")
        .get("z1")
        .is_none());

    cache.remove_pod("w2");
    check(&mut cache, &mut snap, "remove");

    // Node label changes: moved to another zone, zone removed.
    cache.add_pod(pod(
        "w4",
        "a",
        "n2",
        json!({"app": "web"}),
        preferred("web", "zone", 7),
    ));
    check(&mut cache, &mut snap, "add with preferred terms");
    cache.add_node(node("n2", Some("z2")));
    check(&mut cache, &mut snap, "relabel");
    assert_eq!(
        snap.matching_pods_per_domain(&selections()[0], "zone")
            .get("z2"),
        Some(&1)
    );
    cache.add_node(node("n2", None));
    check(&mut cache, &mut snap, "label removed");

    // Assumed pods count at once; forgotten ones stop counting.
    cache
        .assume_pod(pod(
            "x1",
            "a",
            "n1",
            json!({"app": "web"}),
            anti("web", "zone"),
        ))
        .expect("assume");
    check(&mut cache, &mut snap, "assume");
    assert_eq!(
        snap.matching_pods_per_domain(&selections()[0], "zone")
            .get("z1"),
        Some(&1)
    );
    cache.forget_pod("x1");
    check(&mut cache, &mut snap, "forget");
    assert!(snap
        .matching_pods_per_domain(&selections()[0], "zone")
        .get("z1")
        .is_none());

    // Assumed on one node, confirmed on another; assumed and expired.
    cache
        .assume_pod(pod(
            "x2",
            "b",
            "n1",
            json!({"app": "db", "tier": "b"}),
            json!(null),
        ))
        .expect("assume");
    check(&mut cache, &mut snap, "assume 2");
    cache.add_pod(pod(
        "x2",
        "b",
        "n3",
        json!({"app": "db", "tier": "b"}),
        json!(null),
    ));
    check(&mut cache, &mut snap, "confirmed elsewhere");
    let t0 = Instant::now();
    cache
        .assume_pod(pod("x3", "a", "n3", json!({"app": "web"}), json!(null)))
        .expect("assume");
    cache.finish_binding("x3", t0);
    check(&mut cache, &mut snap, "assume 3");
    assert_eq!(
        cache.cleanup_assumed_pods(t0 + Duration::from_secs(11)),
        vec!["x3"]
    );
    check(&mut cache, &mut snap, "expired");

    // A node removed (its pods leave the snapshot) and added back.
    cache.remove_node("n3");
    check(&mut cache, &mut snap, "node removed");
    assert!(snap
        .matching_pods_per_node(&selections()[2])
        .get("n3")
        .is_none());
    cache.add_node(node("n3", Some("z3")));
    check(&mut cache, &mut snap, "node back");
    assert_eq!(
        snap.matching_pods_per_domain(&selections()[2], "zone")
            .get("z3"),
        Some(&1)
    );
}

/// A small deterministic generator (xorshift) for the random walk below.
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
fn random_changes_match_a_recount() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut cache = Cache::new(Duration::from_secs(10));
    let mut snap = Snapshot::default();
    let zones = [Some("z1"), Some("z2"), Some("z3"), None];
    let apps = ["web", "db", "cache"];
    let namespaces = ["a", "b", "c"];
    for i in 0..6 {
        cache.add_node(node(&format!("n{i}"), zones[i % 4]));
    }
    check(&mut cache, &mut snap, "start");
    for step in 0..300 {
        let n = format!("n{}", rng.below(6));
        let uid = format!("p{}", rng.below(40));
        let app = apps[rng.below(3) as usize];
        let labels = if rng.below(2) == 0 {
            json!({"app": app, "tier": "t"})
        } else {
            json!({"app": app})
        };
        let affinity = match rng.below(4) {
            0 => anti(apps[rng.below(3) as usize], KEYS[rng.below(2) as usize]),
            1 => preferred(app, "zone", 1 + rng.below(5) as i32),
            _ => json!(null),
        };
        let mut p = pod(
            &uid,
            namespaces[rng.below(3) as usize],
            &n,
            labels,
            affinity,
        );
        if rng.below(8) == 0 {
            p = terminating(p);
        }
        let op = match rng.below(9) {
            0 | 1 => {
                cache.add_pod(p);
                "add"
            }
            2 => {
                let _ = cache.assume_pod(p);
                "assume"
            }
            3 => {
                cache.forget_pod(&uid);
                "forget"
            }
            4 => {
                cache.remove_pod(&uid);
                "remove"
            }
            5 => {
                cache.add_node(node(&n, zones[rng.below(4) as usize]));
                "relabel"
            }
            6 => {
                cache.remove_node(&n);
                "remove node"
            }
            7 => {
                cache.add_node(node(&n, zones[rng.below(4) as usize]));
                "add node"
            }
            _ => "nothing",
        };
        // Several changes between some snapshots, as between cycles.
        if rng.below(3) != 0 {
            check(&mut cache, &mut snap, &format!("step {step} ({op})"));
        }
    }
    check(&mut cache, &mut snap, "end");
}

#[test]
fn idle_and_surplus_selections_are_dropped() {
    let mut cache = Cache::default();
    let mut snap = Snapshot::default();
    cache.add_node(node("n1", Some("z1")));
    cache.add_pod(pod("w1", "a", "n1", json!({"app": "web"}), json!(null)));
    cache.update_snapshot(&mut snap);
    let one = |i: usize| PodSelection::new([format!("ns{i}")], vec![sel("app=web")], true);
    // Selections asked about since the snapshot last changed are kept beyond the
    // limit (a cycle may still read what it was given)...
    for i in 0..MAX_SELECTIONS + 10 {
        snap.matching_pods_per_node(&one(i));
    }
    assert_eq!(snap.registered_pod_selections(), MAX_SELECTIONS + 10);
    // ... and the least recently used go once it changed and a new one comes.
    cache.add_pod(pod("w3", "b", "n1", json!({"app": "db"}), json!(null)));
    cache.update_snapshot(&mut snap);
    snap.matching_pods_per_node(&one(100_000));
    assert_eq!(snap.registered_pod_selections(), MAX_SELECTIONS);
    // Used again and again: kept; the others go once idle and a new one comes.
    let web = &selections()[0];
    for _ in 0..=IDLE_LOOKUPS {
        assert_eq!(snap.matching_pods_per_node(web).get("n1"), Some(&1));
    }
    cache.add_pod(pod("w4", "b", "n1", json!({"app": "db"}), json!(null)));
    cache.update_snapshot(&mut snap);
    snap.matching_pods_per_node(&one(200_000));
    assert_eq!(snap.registered_pod_selections(), 2);
    // A dropped selection counted again from scratch is still right.
    cache.add_pod(pod("w2", "ns3", "n1", json!({"app": "web"}), json!(null)));
    cache.update_snapshot(&mut snap);
    assert_eq!(snap.matching_pods_per_node(&one(3)).get("n1"), Some(&1));
}

#[test]
fn clones_keep_their_own_counts() {
    let mut cache = Cache::default();
    let mut snap = Snapshot::default();
    cache.add_node(node("n1", Some("z1")));
    cache.update_snapshot(&mut snap);
    let web = &selections()[0];
    assert!(snap.matching_pods_per_node(web).is_empty());
    let before = snap.clone();
    cache.add_pod(pod("w1", "a", "n1", json!({"app": "web"}), json!(null)));
    cache.update_snapshot(&mut snap);
    assert_eq!(snap.matching_pods_per_node(web).get("n1"), Some(&1));
    assert!(before.matching_pods_per_node(web).is_empty());
}
