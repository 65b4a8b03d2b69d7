//! The eviction subresource and PodDisruptionBudgets: refused with 429 while the
//! budget allows no disruption, allowed (and counted) while it does.

mod common;

use common::*;
use http::{Method, StatusCode};
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";
const PDBS: &str = "/apis/policy/v1/namespaces/default/poddisruptionbudgets";

/// A running, ready pod labelled `app=web`.
async fn running_pod(t: &TestServer, name: &str) {
    let (code, _) = t.post(PODS, pod(name)).await;
    assert_eq!(code, StatusCode::CREATED);
    let status = json!({"status": {"phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}]}});
    let (code, body) = t
        .call(
            Method::PATCH,
            &format!("{PODS}/{name}/status"),
            Some(status),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
}

/// A budget over `app=web` with the status the disruption controller would write.
async fn budget(t: &TestServer, name: &str, allowed: i64) {
    let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": name},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}});
    let (code, created) = t.post(PDBS, pdb).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    set_budget_status(
        t,
        name,
        allowed,
        created["metadata"]["generation"].as_i64().unwrap_or(1),
    )
    .await;
}

async fn set_budget_status(t: &TestServer, name: &str, allowed: i64, observed: i64) {
    let status = json!({"status": {"observedGeneration": observed, "disruptionsAllowed": allowed,
        "currentHealthy": 1 + allowed, "desiredHealthy": 1, "expectedPods": 1 + allowed}});
    let (code, body) = t
        .call(
            Method::PATCH,
            &format!("{PDBS}/{name}/status"),
            Some(status),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
}

async fn evict(t: &TestServer, name: &str) -> (StatusCode, Value) {
    let eviction = json!({"apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": name, "namespace": "default"}});
    t.post(&format!("{PODS}/{name}/eviction"), eviction).await
}

#[tokio::test]
async fn a_budget_with_no_disruption_left_refuses_with_429_then_allows() {
    let t = server().await;
    for name in ["a", "b"] {
        running_pod(&t, name).await;
    }
    budget(&t, "web", 1).await;

    // One disruption allowed: a goes, counted in the budget.
    let (code, body) = evict(&t, "a").await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "Success");
    let (code, _) = t.get(&format!("{PODS}/a")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (_, pdb) = t.get(&format!("{PDBS}/web")).await;
    assert_eq!(pdb["status"]["disruptionsAllowed"], 0);
    assert!(pdb["status"]["disruptedPods"]["a"].is_string(), "{pdb}");

    // None left: b stays, 429 with Kubernetes' message and the budget's cause.
    let (code, body) = evict(&t, "b").await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["reason"], "TooManyRequests");
    assert_eq!(body["code"], 429);
    assert_eq!(
        body["message"],
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    let cause = &body["details"]["causes"][0];
    assert_eq!(cause["reason"], "DisruptionBudget");
    assert_eq!(
        cause["message"],
        "The disruption budget web needs 1 healthy pods and has 2 currently"
    );
    let (code, _) = t.get(&format!("{PODS}/b")).await;
    assert_eq!(code, StatusCode::OK);

    // The controller sees a replacement become healthy: allowed again.
    set_budget_status(&t, "web", 1, 1).await;
    let (code, body) = evict(&t, "b").await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let (code, _) = t.get(&format!("{PODS}/b")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pods_outside_budgets_pending_pods_and_dry_runs() {
    let t = server().await;
    // No budget: evicted.
    running_pod(&t, "free").await;
    let (code, body) = evict(&t, "free").await;
    assert_eq!(code, StatusCode::CREATED, "{body}");

    budget(&t, "web", 0).await;
    // A pending pod is evicted whatever the budget.
    let (code, _) = t.post(PODS, pod("pending")).await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, body) = evict(&t, "pending").await;
    assert_eq!(code, StatusCode::CREATED, "{body}");

    // A not-ready pod: evicted without a disruption while the budget is met
    // (IfHealthyBudget), refused while it is not.
    for name in ["sick", "sicker"] {
        running_pod(&t, name).await;
        let not_ready = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        t.call(
            Method::PATCH,
            &format!("{PODS}/{name}/status"),
            Some(not_ready),
        )
        .await;
    }
    let (code, body) = evict(&t, "sick").await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let unmet = json!({"status": {"currentHealthy": 0, "desiredHealthy": 1}});
    t.call(Method::PATCH, &format!("{PDBS}/web/status"), Some(unmet))
        .await;
    let (code, body) = evict(&t, "sicker").await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{body}");

    // A dry run checks and writes nothing.
    set_budget_status(&t, "web", 1, 1).await;
    running_pod(&t, "c").await;
    let (code, body) = t
        .post(
            &format!("{PODS}/c/eviction?dryRun=All"),
            json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "c"}}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let (code, _) = t.get(&format!("{PODS}/c")).await;
    assert_eq!(code, StatusCode::OK);
    let (_, pdb) = t.get(&format!("{PDBS}/web")).await;
    assert_eq!(pdb["status"]["disruptionsAllowed"], 1);

    // A budget the controller has not processed yet: 429.
    set_budget_status(&t, "web", 1, 0).await;
    let (code, body) = evict(&t, "c").await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(
        body["details"]["causes"][0]["message"],
        "The disruption budget web is still being processed by the server."
    );

    // Two budgets over one pod: not supported.
    set_budget_status(&t, "web", 1, 1).await;
    budget(&t, "web2", 1).await;
    let (code, body) = evict(&t, "c").await;
    assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
}
