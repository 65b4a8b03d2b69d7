//! Finding a pod's sandbox and containers in the runtime by namespace, pod name and
//! container name (the kubelet's URL paths name them so).

use crate::runtime::{ContainerFilter, ContainerStatus, PodSandboxStatus, Runtime, SandboxState};

/// Why a pod or container could not be found.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The runtime runs no sandbox for the pod.
    #[error("pod {namespace}/{name} is not running on this node")]
    PodNotFound {
        /// Namespace.
        namespace: String,
        /// Pod name.
        name: String,
    },
    /// The pod has no such container (or no previous attempt of it).
    #[error("container {container} of pod {namespace}/{pod}{which} not found")]
    ContainerNotFound {
        /// Namespace.
        namespace: String,
        /// Pod name.
        pod: String,
        /// Container name.
        container: String,
        /// " (previous attempt)" or "".
        which: &'static str,
    },
    /// The runtime failed.
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
}

/// The pod's current sandbox: the newest one, a ready one first.
pub async fn sandbox(
    runtime: &dyn Runtime,
    namespace: &str,
    name: &str,
) -> Result<PodSandboxStatus, LookupError> {
    let mut sandboxes: Vec<PodSandboxStatus> = runtime
        .list_pod_sandboxes()
        .await?
        .into_iter()
        .filter(|s| s.pod.namespace == namespace && s.pod.name == name)
        .collect();
    sandboxes.sort_by_key(|s| (s.state == SandboxState::Ready, s.created_at, s.attempt));
    sandboxes.pop().ok_or_else(|| LookupError::PodNotFound {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    })
}

/// The container `container` of the pod: its latest attempt, or with `previous` the
/// one before it.
pub async fn container(
    runtime: &dyn Runtime,
    namespace: &str,
    pod: &str,
    container: &str,
    previous: bool,
) -> Result<ContainerStatus, LookupError> {
    let sandbox = sandbox(runtime, namespace, pod).await?;
    let mut attempts: Vec<ContainerStatus> = runtime
        .list_containers(&ContainerFilter {
            sandbox_id: Some(sandbox.id),
            state: None,
        })
        .await?
        .into_iter()
        .filter(|c| c.name == container)
        .collect();
    attempts.sort_by_key(|c| (c.attempt, c.created_at));
    let found = if previous {
        attempts
            .len()
            .checked_sub(2)
            .map(|i| attempts.swap_remove(i))
    } else {
        attempts.pop()
    };
    found.ok_or_else(|| LookupError::ContainerNotFound {
        namespace: namespace.to_owned(),
        pod: pod.to_owned(),
        container: container.to_owned(),
        which: if previous { " (previous attempt)" } else { "" },
    })
}
