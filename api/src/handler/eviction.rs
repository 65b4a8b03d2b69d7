//! POST `pods/{name}/eviction`: deletes a pod unless that would violate its
//! PodDisruptionBudget, as Kubernetes' eviction subresource does.
//!
//! - A pod that is `Pending`, finished or already terminating is deleted without
//!   consulting any budget.
//! - With no budget selecting the pod, it is deleted. With more than one, the
//!   eviction fails (500), as in Kubernetes.
//! - With one: a not-ready pod is deleted without touching the budget when its
//!   `unhealthyPodEvictionPolicy` is `AlwaysAllow`, or (`IfHealthyBudget`, the
//!   default) when the budget is met. Otherwise the budget must have been processed
//!   by the disruption controller (`status.observedGeneration`) and allow a
//!   disruption; its `disruptionsAllowed` is decremented and the pod recorded in
//!   `disruptedPods` (a compare-and-swap on the budget), then the pod is deleted.
//!   A budget with no disruption left answers 429 `TooManyRequests`: "Cannot evict
//!   pod as it would violate the pod's disruption budget.", with a `DisruptionBudget`
//!   cause saying how many healthy pods it needs.
//!
//! `dryRun` checks everything and writes nothing.

use http::StatusCode;
use serde_json::{json, Value};
use skiff_core::selector::LabelSelector;
use skiff_core::status::{success_status, ApiError, StatusCause, StatusDetails};

use super::response::{Reply, ReplyBody};
use super::{RequestBody, RequestContext};
use crate::registry::{meta, DeleteOptions, ListOptions, UpdateTarget};

/// The message of an eviction a budget refuses.
pub const VIOLATION_MESSAGE: &str =
    "Cannot evict pod as it would violate the pod's disruption budget.";
/// The cause type of budget refusals.
pub const CAUSE_DISRUPTION_BUDGET: &str = "DisruptionBudget";
/// Most pods a budget may list in `disruptedPods` before evictions are refused
/// (Kubernetes' `MaxDisruptedPodSize`).
pub const MAX_DISRUPTED_PODS: usize = 2000;

/// Handles the eviction of the pod `ctx` addresses.
pub async fn evict(ctx: &RequestContext, body: RequestBody) -> Result<Reply, ApiError> {
    let eviction = ctx.object_body(body).await?;
    let name = ctx.object_name()?.to_owned();
    let given = meta::name(&eviction);
    if !given.is_empty() && given != name {
        return Err(ApiError::bad_request(format!(
            "name in URL does not match name in Eviction object ({given} != {name})"
        )));
    }
    let mut opts = DeleteOptions {
        dry_run: ctx.params.dry_run,
        ..Default::default()
    };
    if let Some(delete_options) = eviction.get("deleteOptions").filter(|v| !v.is_null()) {
        super::verbs::apply_delete_options(&mut opts, delete_options)?;
        opts.dry_run |= delete_options
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|v| v == "All"));
    }
    let namespace = ctx.namespace.as_deref();
    let pod = ctx.served.registry.get(namespace, &name).await?;
    if !ignores_budgets(&pod) {
        if let Some(pdb) = budget_of(ctx, &pod).await? {
            check_and_decrement(ctx, &pod, &pdb, opts.dry_run).await?;
        }
    }
    ctx.served.registry.delete(namespace, &name, &opts).await?;
    Ok(Reply::new(
        StatusCode::CREATED,
        ReplyBody::Plain(success_status(None)),
    ))
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Pending, finished and terminating pods are evicted without a budget.
fn ignores_budgets(pod: &Value) -> bool {
    matches!(phase(pod), "Pending" | "Succeeded" | "Failed") || meta::is_terminating(pod)
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// The one budget of the pod's namespace whose selector matches it; an error when
/// there is more than one.
async fn budget_of(ctx: &RequestContext, pod: &Value) -> Result<Option<Value>, ApiError> {
    let Some(budgets) = ctx.server.find("policy", "v1", "poddisruptionbudgets") else {
        return Ok(None);
    };
    let list = budgets
        .registry
        .list(ctx.namespace.as_deref(), &ListOptions::default())
        .await?;
    let labels = meta::labels(pod);
    let mut matching: Vec<Value> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|pdb| {
            // A budget without a selector selects nothing; an empty one, everything.
            pdb.pointer("/spec/selector")
                .filter(|s| !s.is_null())
                .and_then(|s| LabelSelector::from_json(s).ok())
                .is_some_and(|s| s.matches(&labels))
        })
        .cloned()
        .collect();
    match matching.len() {
        0 => Ok(None),
        1 => Ok(matching.pop()),
        _ => Err(ApiError::internal(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        )),
    }
}

fn status_i64(pdb: &Value, field: &str) -> i64 {
    pdb.pointer(&format!("/status/{field}"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn too_many_requests(cause: String) -> ApiError {
    ApiError {
        code: 429,
        reason: "TooManyRequests".into(),
        message: VIOLATION_MESSAGE.into(),
        details: Some(Box::new(StatusDetails {
            causes: vec![StatusCause {
                reason: CAUSE_DISRUPTION_BUDGET.into(),
                message: cause,
                field: String::new(),
            }],
            ..StatusDetails::default()
        })),
    }
}

/// Takes one disruption from the budget for `pod` (or finds none is needed).
async fn check_and_decrement(
    ctx: &RequestContext,
    pod: &Value,
    pdb: &Value,
    dry_run: bool,
) -> Result<(), ApiError> {
    let pdb_name = meta::name(pdb).to_owned();
    if !is_ready(pod) {
        let policy = pdb
            .pointer("/spec/unhealthyPodEvictionPolicy")
            .and_then(Value::as_str)
            .unwrap_or("IfHealthyBudget");
        let desired = status_i64(pdb, "desiredHealthy");
        if policy == "AlwaysAllow" || (status_i64(pdb, "currentHealthy") >= desired && desired > 0)
        {
            return Ok(());
        }
    }
    let Some(budgets) = ctx.server.find("policy", "v1", "poddisruptionbudgets") else {
        return Ok(());
    };
    let pod_name = meta::name(pod).to_owned();
    let qualified = budgets.registry.qualified();
    let write = crate::registry::WriteOptions {
        dry_run,
        ..Default::default()
    };
    budgets
        .registry
        .update_with(
            ctx.namespace.as_deref(),
            &pdb_name,
            UpdateTarget::Status,
            &write,
            |current| {
                let observed = current
                    .pointer("/status/observedGeneration")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                if observed < meta::generation(current) {
                    return Err(too_many_requests(format!(
                        "The disruption budget {pdb_name} is still being processed by the server."
                    )));
                }
                let allowed = status_i64(current, "disruptionsAllowed");
                if allowed < 0 {
                    return Err(ApiError::forbidden(
                        &qualified,
                        &pdb_name,
                        "pdb disruptions allowed is negative",
                    ));
                }
                let disrupted = current
                    .pointer("/status/disruptedPods")
                    .and_then(Value::as_object)
                    .map_or(0, serde_json::Map::len);
                if disrupted > MAX_DISRUPTED_PODS {
                    return Err(ApiError::forbidden(
                        &qualified,
                        &pdb_name,
                        "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
                    ));
                }
                if allowed == 0 {
                    return Err(too_many_requests(format!(
                        "The disruption budget {pdb_name} needs {} healthy pods and has {} currently",
                        status_i64(current, "desiredHealthy"),
                        status_i64(current, "currentHealthy"),
                    )));
                }
                let mut next = current.clone();
                meta::set_path(
                    &mut next,
                    &["status", "disruptionsAllowed"],
                    json!(allowed - 1),
                )?;
                let mut pods = current
                    .pointer("/status/disruptedPods")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                pods.insert(pod_name.clone(), json!(meta::now_timestamp()));
                meta::set_path(&mut next, &["status", "disruptedPods"], Value::Object(pods))?;
                Ok(next)
            },
        )
        .await?;
    Ok(())
}
