//! Registration and heartbeats: the Node object, its status, and the
//! `coordination.k8s.io/v1` Lease in `kube-node-lease` that the node lifecycle
//! controller reads as the node's pulse.
//!
//! Every call retries on failure: an unreachable API server delays registration and
//! skips heartbeats, it never stops the agent.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Node, NodeCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use skiff_core::client::{Api, Client, ClientError, Patch, PatchParams, PostParams};

use super::node_object::{node_object, node_status};
use super::AgentConfig;
use crate::runtime::RuntimeVersion;

/// The namespace of node leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// Creates the Node (or adopts the existing one, merging in the agent's labels),
/// retrying until the API server answers. Returns the node's uid.
pub async fn register(client: &Arc<dyn Client>, config: &AgentConfig) -> String {
    let nodes: Api<Node> = Api::all(client.clone());
    let wanted = node_object(config);
    let mut delay = Duration::from_millis(200);
    loop {
        let result = match nodes.create(&wanted, &PostParams::default()).await {
            Ok(node) => Ok(node),
            Err(e) if e.code() == Some(409) => {
                let patch = serde_json::json!({"metadata": {"labels": wanted.metadata.labels}});
                nodes
                    .patch(
                        &config.node_name,
                        &Patch::Merge(patch),
                        &PatchParams::default(),
                    )
                    .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(node) => return node.metadata.uid.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(node = %config.node_name, error = %e, "registering the node failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Reports the node's status once; `previous` holds the conditions last reported and
/// is updated on success.
pub async fn report_status(
    client: &Arc<dyn Client>,
    config: &AgentConfig,
    runtime: &RuntimeVersion,
    previous: &mut Vec<NodeCondition>,
) -> Result<(), ClientError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let pressure = match &config.pressure_thresholds {
        Some(t) => {
            let dir = config.root_dir.clone();
            let usage = tokio::task::spawn_blocking(move || super::pressure::measure(&dir))
                .await
                .unwrap_or_default();
            usage.evaluate(t)
        }
        None => super::pressure::Pressure::default(),
    };
    let status = node_status(config, runtime, previous, &pressure);
    let body = serde_json::to_value(&status).map_err(|e| ClientError::Decode(e.to_string()))?;
    nodes
        .patch_status(
            &config.node_name,
            &Patch::Merge(serde_json::json!({ "status": body })),
            &PatchParams::default(),
        )
        .await?;
    *previous = status.conditions.unwrap_or_default();
    Ok(())
}

fn now_micro() -> MicroTime {
    MicroTime(super::pod_status::timestamp(std::time::SystemTime::now()))
}

/// Renews the node's Lease once, creating it when missing (owned by the Node so it
/// goes away with it).
pub async fn renew_lease(
    client: &Arc<dyn Client>,
    config: &AgentConfig,
    node_uid: &str,
) -> Result<Lease, ClientError> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let renew = serde_json::json!({"spec": {
        "holderIdentity": config.node_name,
        "leaseDurationSeconds": config.lease_duration_seconds,
        "renewTime": now_micro(),
    }});
    match leases
        .patch(
            &config.node_name,
            &Patch::Merge(renew),
            &PatchParams::default(),
        )
        .await
    {
        Err(e) if e.is_not_found() => {}
        other => return other,
    }
    let owner = (!node_uid.is_empty()).then(|| {
        vec![OwnerReference {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: config.node_name.clone(),
            uid: node_uid.to_owned(),
            ..OwnerReference::default()
        }]
    });
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(config.node_name.clone()),
            namespace: Some(LEASE_NAMESPACE.into()),
            owner_references: owner,
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(config.node_name.clone()),
            lease_duration_seconds: Some(config.lease_duration_seconds),
            renew_time: Some(now_micro()),
            ..LeaseSpec::default()
        }),
    };
    leases.create(&lease, &PostParams::default()).await
}

/// Renews the lease every `config.lease_interval` and reports the node's status every
/// `config.status_interval`, forever.
pub async fn run(
    client: Arc<dyn Client>,
    config: Arc<AgentConfig>,
    runtime: RuntimeVersion,
    mut node_uid: String,
) {
    let mut conditions = Vec::new();
    let mut lease_tick = tokio::time::interval(config.lease_interval);
    let mut status_tick = tokio::time::interval(config.status_interval);
    lease_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    status_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = lease_tick.tick() => {
                if let Err(e) = renew_lease(&client, &config, &node_uid).await {
                    tracing::warn!(node = %config.node_name, error = %e, "renewing the node lease failed");
                }
            }
            _ = status_tick.tick() => {
                match report_status(&client, &config, &runtime, &mut conditions).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {
                        // Someone deleted the Node: register again, as the kubelet does.
                        tracing::warn!(node = %config.node_name, "the Node is gone; registering again");
                        node_uid = register(&client, &config).await;
                        conditions.clear();
                    }
                    Err(e) => {
                        tracing::warn!(node = %config.node_name, error = %e, "reporting node status failed");
                    }
                }
            }
        }
    }
}
