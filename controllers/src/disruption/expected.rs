//! How many pods a budget expects when it is given in `maxUnavailable` or as a
//! percentage: the sum of the replicas of the pods' controllers (a ReplicaSet's
//! Deployment when it has one, a StatefulSet, a ReplicationController), each counted
//! once.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use skiff_core::client::{Api, Client, ClientError};
use skiff_core::runtime::controller_of;

/// Why the expected count could not be found.
#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    /// A pod has no controller, or one whose kind has no scale.
    #[error("found no controllers for pod {0:?}")]
    NoController(String),
    /// Reading a controller failed.
    #[error("reading the controller of pod {pod:?}: {source}")]
    Client {
        /// The pod.
        pod: String,
        /// The client error.
        #[source]
        source: ClientError,
    },
}

/// The sum of the replicas of the controllers of `pods` (in `namespace`).
pub async fn expected_scale(
    client: &Arc<dyn Client>,
    namespace: &str,
    pods: &[Arc<Pod>],
) -> Result<i32, ScaleError> {
    // Controller uid -> replicas.
    let mut counted: HashMap<String, i32> = HashMap::new();
    for pod in pods {
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let owner = controller_of(&pod.metadata)
            .ok_or_else(|| ScaleError::NoController(pod_name.clone()))?;
        if counted.contains_key(&owner.uid) {
            continue;
        }
        let err = |source| ScaleError::Client {
            pod: pod_name.clone(),
            source,
        };
        let group = owner.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let (uid, replicas) = match (group, owner.kind.as_str()) {
            ("apps", "ReplicaSet") => {
                let api: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
                let rs = api.get_opt(&owner.name).await.map_err(err)?;
                let rs = rs.ok_or_else(|| ScaleError::NoController(pod_name.clone()))?;
                match controller_of(&rs.metadata).filter(|d| d.kind == "Deployment") {
                    Some(d) => {
                        let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
                        let dep = api.get_opt(&d.name).await.map_err(err)?;
                        let dep = dep.ok_or_else(|| ScaleError::NoController(pod_name.clone()))?;
                        let replicas = dep.spec.and_then(|s| s.replicas).unwrap_or(1);
                        (d.uid.clone(), replicas)
                    }
                    None => (
                        owner.uid.clone(),
                        rs.spec.and_then(|s| s.replicas).unwrap_or(1),
                    ),
                }
            }
            ("apps", "StatefulSet") => {
                let api: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
                let ss = api.get_opt(&owner.name).await.map_err(err)?;
                let ss = ss.ok_or_else(|| ScaleError::NoController(pod_name.clone()))?;
                (
                    owner.uid.clone(),
                    ss.spec.and_then(|s| s.replicas).unwrap_or(1),
                )
            }
            ("", "ReplicationController") => {
                let api: Api<ReplicationController> = Api::namespaced(client.clone(), namespace);
                let rc = api.get_opt(&owner.name).await.map_err(err)?;
                let rc = rc.ok_or_else(|| ScaleError::NoController(pod_name.clone()))?;
                (
                    owner.uid.clone(),
                    rc.spec.and_then(|s| s.replicas).unwrap_or(1),
                )
            }
            _ => return Err(ScaleError::NoController(pod_name)),
        };
        counted.insert(owner.uid.clone(), 0);
        counted.insert(uid, replicas);
    }
    Ok(counted.values().sum())
}
