//! The NoExecute taint manager: deletes the pods on nodes with `NoExecute` taints they
//! do not tolerate at once, and those that tolerate them for `tolerationSeconds` when
//! that time is up (counted from the taint's `timeAdded`).
//!
//! Pods already terminating or finished are left alone; pods tolerating every taint
//! without `tolerationSeconds` stay for good. Before each deletion the pod gets the
//! `DisruptionTarget` condition (reason `DeletionByTaintManager`,
//! [`crate::disruption_target`]); each eviction is recorded as a
//! `TaintManagerEviction` Event on the pod.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use skiff_core::client::{Api, Client, DeleteParams};
use skiff_core::runtime::events::{EventType, Recorder};
use skiff_core::runtime::reflector::{index, Store};
use skiff_core::runtime::Clock;

use super::tolerations::{eviction_deadline, Deadline};
use super::Error;
use crate::disruption_target::{self, Mark};

/// The NoExecute taints of a node, each with when it was added (Unix milliseconds;
/// `now` for a taint without `timeAdded`).
fn no_execute_taints(node: &Node, now_ms: i64) -> Vec<(k8s_openapi::api::core::v1::Taint, i64)> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| t.effect == "NoExecute")
        .map(|t| {
            let added = t
                .time_added
                .as_ref()
                .map_or(now_ms, |at| at.0.as_millisecond());
            (t.clone(), added)
        })
        .collect()
}

/// One pass: evicts every pod whose deadline has come. Returns how many it evicted.
pub async fn evict_due(
    client: &Arc<dyn Client>,
    nodes: &Store<Node>,
    pods: &Store<Pod>,
    clock: &dyn Clock,
    recorder: &Recorder,
) -> Result<usize, Error> {
    let now_ms = clock.now().as_millisecond();
    let mut evicted = 0;
    for node in nodes.list() {
        let taints = no_execute_taints(&node, now_ms);
        if taints.is_empty() {
            continue;
        }
        let node_name = node.metadata.name.clone().unwrap_or_default();
        for pod in pods.by_index(index::NODE, &node_name) {
            if pod.metadata.deletion_timestamp.is_some()
                || crate::endpoints::members::is_terminal(&pod)
            {
                continue;
            }
            let tolerations = pod
                .spec
                .as_ref()
                .and_then(|s| s.tolerations.clone())
                .unwrap_or_default();
            let due = match eviction_deadline(&tolerations, &taints) {
                Deadline::Never => false,
                Deadline::Now => true,
                Deadline::At(at) => at <= now_ms,
            };
            if !due {
                continue;
            }
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            let name = pod.metadata.name.clone().unwrap_or_default();
            // As Kubernetes: say why before deleting, so the owner can tell.
            let mark = Mark {
                reason: disruption_target::TAINT_MANAGER,
                message: "Taint manager: deleting due to NoExecute taint",
                fail: false,
            };
            if let Err(source) = disruption_target::mark(client, &pod, &mark).await {
                return Err(Error::Client {
                    action: "marking a pod for eviction",
                    node: node_name,
                    source,
                });
            }
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            let params = DeleteParams {
                precondition_uid: pod.metadata.uid.clone(),
                ..DeleteParams::default()
            };
            match api.delete(&name, &params).await {
                Ok(_) => {
                    evicted += 1;
                    tracing::info!(pod = %format!("{ns}/{name}"), node = %node_name, "evicting pod from tainted node");
                    let _ = recorder
                        .publish(
                            &Recorder::reference_of(pod.as_ref()),
                            EventType::Normal,
                            "TaintManagerEviction",
                            &format!("Marking for deletion Pod {ns}/{name}"),
                        )
                        .await;
                }
                // Gone or replaced meanwhile.
                Err(e) if e.is_not_found() || e.is_conflict() => {}
                Err(source) => {
                    return Err(Error::Client {
                        action: "evicting a pod",
                        node: node_name,
                        source,
                    })
                }
            }
        }
    }
    Ok(evicted)
}
