//! Table tests modelled on kube-scheduler's defaultpreemption tests: victim
//! selection with reprieves, PDB accounting, node choice and eligibility.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::{json, Value};

use super::*;
use crate::cache::{NodeInfo, Snapshot};
use crate::framework::{Code, CycleState};
use crate::plugins::testing::{default_framework, info, sized_node};

/// name, pods on the node, budgets, expected victims and violations (or the code).
type VictimCase = (
    &'static str,
    Vec<Pod>,
    Vec<PodDisruptionBudget>,
    Result<(Vec<String>, usize), Code>,
);

fn pod(name: &str, prio: i32, cpu: &str, labels: Value, extra: Value) -> Pod {
    let mut spec = json!({"priority": prio, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]});
    for (k, v) in extra.as_object().into_iter().flatten() {
        spec[k] = v.clone();
    }
    serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "uid": name, "labels": labels}, "spec": spec}))
        .expect("test pod")
}

fn node_with(name: &str, pods: Vec<Pod>) -> NodeInfo {
    let mut n = sized_node(name, "4", "8Gi");
    n.metadata.labels = Some([("kubernetes.io/hostname".to_owned(), name.to_owned())].into());
    let mut i = info(n, vec![]);
    for p in pods {
        i.add_pod(std::sync::Arc::new(p));
    }
    i
}

/// Runs PreFilter for `preemptor` over `nodes`, then selects victims on the first.
fn victims_on_first(
    preemptor: &Pod,
    nodes: Vec<NodeInfo>,
    pdbs: &[PodDisruptionBudget],
) -> Result<(Vec<String>, usize), Code> {
    let fw = default_framework();
    let snap = Snapshot::from_nodes(nodes);
    let mut state = CycleState::new();
    let (_, s) = fw.run_pre_filter(&mut state, preemptor, &snap);
    assert!(s.is_success(), "{s}");
    let first = snap.nodes()[0].clone();
    select_victims_on_node(&fw, &state, preemptor, &first, pdbs, &Default::default())
        .map(|c| {
            (
                c.victims
                    .iter()
                    .map(|v| crate::pod::name(&v.pod).to_owned())
                    .collect(),
                c.num_pdb_violations,
            )
        })
        .map_err(|s| s.code())
}

fn pdb(app: &str, allowed: i32) -> PodDisruptionBudget {
    serde_json::from_value(json!({"metadata": {"name": app, "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": app}}},
        "status": {"disruptionsAllowed": allowed, "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1}}))
    .expect("test pdb")
}

#[test]
fn selects_the_fewest_least_important_victims() {
    let high = pod("p", 100, "2", json!({}), json!({}));
    let cases: Vec<VictimCase> = vec![
        (
            "the higher-priority pod is reprieved",
            vec![
                pod("low", 1, "2", json!({}), json!({})),
                pod("mid", 2, "2", json!({}), json!({})),
            ],
            vec![],
            Ok((vec!["low".into()], 0)),
        ),
        (
            "both must go",
            vec![
                pod("a", 1, "3", json!({}), json!({})),
                pod("b", 2, "3", json!({}), json!({})),
            ],
            vec![],
            Ok((vec!["b".into(), "a".into()], 0)),
        ),
        (
            "no pod of lower priority",
            vec![
                pod("peer", 100, "2", json!({}), json!({})),
                pod("boss", 200, "2", json!({}), json!({})),
            ],
            vec![],
            Err(Code::UnschedulableAndUnresolvable),
        ),
        (
            "does not fit even on an empty node",
            vec![
                pod("boss", 200, "3", json!({}), json!({})),
                pod("low", 1, "1", json!({}), json!({})),
            ],
            vec![],
            Err(Code::Unschedulable),
        ),
        (
            "a PDB-protected pod is reprieved before an unprotected one",
            vec![
                pod("x", 1, "2", json!({"app": "x"}), json!({})),
                pod("y", 1, "2", json!({"app": "y"}), json!({})),
            ],
            vec![pdb("x", 0)],
            Ok((vec!["y".into()], 0)),
        ),
        (
            "evicting a protected pod counts as a violation",
            vec![
                pod("x", 1, "3", json!({"app": "x"}), json!({})),
                pod("y", 1, "1", json!({"app": "y"}), json!({})),
            ],
            vec![pdb("x", 0)],
            Ok((vec!["x".into()], 1)),
        ),
        (
            "a budget with disruptions left is no violation",
            vec![
                pod("x", 1, "3", json!({"app": "x"}), json!({})),
                pod("y", 1, "1", json!({"app": "y"}), json!({})),
            ],
            vec![pdb("x", 1)],
            Ok((vec!["x".into()], 0)),
        ),
    ];
    for (name, existing, pdbs, want) in cases {
        let got = victims_on_first(&high, vec![node_with("n1", existing)], &pdbs);
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn anti_affinity_victims_go_through_the_prefilter_extensions() {
    // The preemptor refuses to share a node with app=db; the low-priority db pod
    // uses no resources, only removing it (RemovePod) makes the node fit.
    let preemptor = pod(
        "p",
        10,
        "1",
        json!({}),
        json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}}}),
    );
    let db = pod("db", 0, "0", json!({"app": "db"}), json!({}));
    let other = pod("web", 0, "1", json!({"app": "web"}), json!({}));
    assert_eq!(
        victims_on_first(
            &preemptor,
            vec![node_with("n1", vec![db, other]), node_with("n2", vec![])],
            &[]
        ),
        Ok((vec!["db".into()], 0))
    );
}

fn candidate(node: &str, victims: Vec<Pod>, violations: usize) -> Candidate {
    Candidate {
        node: node.into(),
        victims: victims
            .into_iter()
            .map(|p| crate::cache::PodInfo::new(std::sync::Arc::new(p)))
            .collect(),
        num_pdb_violations: violations,
    }
}

fn started(mut p: Pod, secs: i64) -> Pod {
    p.status = serde_json::from_value(json!({"startTime": k8s_openapi::jiff::Timestamp::from_second(1_700_000_000 + secs).expect("time").to_string()})).ok();
    p
}

#[test]
fn picks_the_cheapest_node_in_kubernetes_order() {
    let v = |name: &str, prio: i32| pod(name, prio, "1", json!({}), json!({}));
    let cases: Vec<(&str, Vec<Candidate>, &str)> = vec![
        (
            "fewest PDB violations",
            vec![
                candidate("a", vec![v("1", 1)], 1),
                candidate("b", vec![v("2", 5), v("3", 5)], 0),
            ],
            "b",
        ),
        (
            "lowest highest priority",
            vec![
                candidate("a", vec![v("1", 5)], 0),
                candidate("b", vec![v("2", 1), v("3", 2)], 0),
            ],
            "b",
        ),
        (
            "lowest priority sum",
            vec![
                candidate("a", vec![v("1", 5), v("2", 5)], 0),
                candidate("b", vec![v("3", 5), v("4", 1)], 0),
            ],
            "b",
        ),
        (
            "the priority sum counts every victim, so fewer victims win",
            vec![
                candidate("a", vec![v("1", 5), v("2", 1), v("3", 0)], 0),
                candidate("b", vec![v("4", 5), v("5", 2)], 0),
            ],
            "b",
        ),
        (
            "latest start of the most important victims",
            vec![
                candidate("a", vec![started(v("1", 5), 10)], 0),
                candidate("b", vec![started(v("2", 5), 20)], 0),
                candidate("c", vec![started(v("3", 5), 5)], 0),
            ],
            "b",
        ),
        (
            "first on a tie",
            vec![
                candidate("a", vec![v("1", 5)], 0),
                candidate("b", vec![v("2", 5)], 0),
            ],
            "a",
        ),
    ];
    for (name, cands, want) in cases {
        let i = pick_one_node(&cands).expect("a candidate");
        assert_eq!(cands[i].node, want, "{name}");
    }
    assert_eq!(pick_one_node(&[]), None);
}

#[test]
fn eligibility() {
    let never = pod(
        "p",
        10,
        "1",
        json!({}),
        json!({"preemptionPolicy": "Never"}),
    );
    assert_eq!(
        eligible_to_preempt(&never, None),
        Err("not eligible due to preemptionPolicy=Never.".into())
    );
    let p = pod("p", 10, "1", json!({}), json!({}));
    let mut terminating = pod("t", 1, "1", json!({}), json!({}));
    terminating.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::from_second(1_700_000_000).expect("time"),
        ));
    assert!(eligible_to_preempt(&p, Some(&node_with("n", vec![terminating]))).is_err());
    assert!(eligible_to_preempt(
        &p,
        Some(&node_with(
            "n",
            vec![pod("ok", 1, "1", json!({}), json!({}))]
        ))
    )
    .is_ok());
    assert!(eligible_to_preempt(&p, None).is_ok());
}

#[test]
fn args() {
    let h = default_framework().handle().clone();
    assert!(
        DefaultPreemption::from_args(&json!({"minCandidateNodesPercentage": 101}), &h).is_err()
    );
    assert!(DefaultPreemption::from_args(
        &json!({"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 0}),
        &h
    )
    .is_err());
    let p =
        DefaultPreemption::from_args(&json!({"minCandidateNodesAbsolute": 5}), &h).expect("valid");
    assert_eq!(
        (
            p.min_candidate_nodes_percentage,
            p.min_candidate_nodes_absolute
        ),
        (10, 5)
    );
}
