//! Static pods: pods from manifest files in a directory (`--pod-manifest-path`), run
//! by the agent whether or not an API server is reachable, and published as *mirror
//! pods* when one is.
//!
//! - [`read_manifests`] reads every `*.yaml`, `*.yml` and `*.json` file (hidden files
//!   are skipped; a file that does not parse is logged and skipped). Each pod is named
//!   `<name>-<node>` (as the kubelet does), bound to the node, defaulted to namespace
//!   `default`, and given a uid derived from its content and the node: a changed
//!   manifest is a new pod.
//! - [`run`] re-reads the directory every `static_pod_check` and runs one
//!   [`super::worker::PodWorker`] per static pod; a pod whose file changed or
//!   disappeared is torn down (and the new version started).
//! - The mirror pod is the static pod as an API object with the annotation
//!   `kubernetes.io/config.mirror` (the pod's hash) and the Node as owner. It is
//!   created when missing, recreated when deleted or stale, and deleted when its
//!   static pod is gone. Workers report the static pod's status to it. The agent's pod
//!   watch ignores mirror pods.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("web.yaml"), "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: c\n    image: nginx\n").unwrap();
//! let pods = skiff_node::agent::static_pods::read_manifests(dir.path(), "node-1");
//! assert_eq!(pods[0].metadata.name.as_deref(), Some("web-node-1"));
//! assert_eq!(pods[0].spec.as_ref().unwrap().node_name.as_deref(), Some("node-1"));
//! ```

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use skiff_core::client::{Api, Client, DeleteParams, ListParams, PostParams};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::events::EventSink;
use super::worker::PodWorker;
use super::AgentConfig;
use crate::runtime::Runtime;

/// The annotation that marks a mirror pod (its value: the static pod's hash).
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// The annotation holding a static pod's hash.
pub const HASH_ANNOTATION: &str = "kubernetes.io/config.hash";
/// The annotation naming a pod's source (`file` for static pods).
pub const SOURCE_ANNOTATION: &str = "kubernetes.io/config.source";

/// Whether `pod` is a mirror pod (run by its node from a manifest, not from the API).
pub fn is_mirror(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION))
}

fn parse(path: &Path, text: &str) -> Result<Pod, String> {
    let is_json = path.extension().is_some_and(|e| e == "json");
    let pod: Pod = if is_json {
        serde_json::from_str(text).map_err(|e| e.to_string())?
    } else {
        serde_yaml::from_str(text).map_err(|e| e.to_string())?
    };
    if pod.metadata.name.as_deref().unwrap_or_default().is_empty() {
        return Err("the pod has no metadata.name".into());
    }
    if pod.spec.as_ref().is_none_or(|s| s.containers.is_empty()) {
        return Err("the pod has no containers".into());
    }
    Ok(pod)
}

/// A static pod ready to run: named, bound, with its hash as uid and annotations.
fn prepare(mut pod: Pod, node: &str) -> Pod {
    let name = format!(
        "{}-{node}",
        pod.metadata.name.as_deref().unwrap_or_default()
    );
    pod.metadata.name = Some(name);
    if pod
        .metadata
        .namespace
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        pod.metadata.namespace = Some("default".into());
    }
    if let Some(spec) = pod.spec.as_mut() {
        spec.node_name = Some(node.to_owned());
    }
    pod.status = None;
    pod.metadata.uid = None;
    pod.metadata.resource_version = None;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&pod)
        .unwrap_or_default()
        .hash(&mut hasher);
    node.hash(&mut hasher);
    let hash = format!("{:016x}", hasher.finish());
    let annotations = pod.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(HASH_ANNOTATION.into(), hash.clone());
    annotations.insert(SOURCE_ANNOTATION.into(), "file".into());
    pod.metadata.uid = Some(format!("static-{hash}"));
    pod
}

/// The static pods of `dir` for `node`, sorted by name. Unreadable or invalid files
/// are logged and skipped; a missing directory has none.
pub fn read_manifests(dir: &Path, node: &str) -> Vec<Pod> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut pods = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let wanted = ["yaml", "yml", "json"]
            .iter()
            .any(|e| path.extension().is_some_and(|x| x == *e));
        if name.starts_with('.') || !wanted || !path.is_file() {
            continue;
        }
        match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| parse(&path, &t))
        {
            Ok(pod) => pods.push(prepare(pod, node)),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "skipping a static pod manifest")
            }
        }
    }
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    pods.dedup_by(|a, b| a.metadata.name == b.metadata.name);
    pods
}

/// The mirror pod of a static pod.
pub fn mirror_of(pod: &Pod, node_uid: Option<&str>) -> Pod {
    let mut mirror = pod.clone();
    let hash = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(HASH_ANNOTATION).cloned())
        .unwrap_or_default();
    mirror.metadata = ObjectMeta {
        name: pod.metadata.name.clone(),
        namespace: pod.metadata.namespace.clone(),
        labels: pod.metadata.labels.clone(),
        annotations: pod.metadata.annotations.clone(),
        ..ObjectMeta::default()
    };
    mirror
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(MIRROR_ANNOTATION.into(), hash);
    if let (Some(uid), Some(node)) = (
        node_uid,
        pod.spec.as_ref().and_then(|s| s.node_name.clone()),
    ) {
        mirror.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: node,
            uid: uid.to_owned(),
            controller: Some(true),
            ..OwnerReference::default()
        }]);
    }
    mirror
}

fn hash_of(pod: &Pod, key: &str) -> Option<String> {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key).cloned())
}

/// Makes the API's mirror pods match `pods`: creates missing ones, replaces stale or
/// deleted ones, deletes orphans. Errors are returned for logging; the next round
/// retries.
pub async fn sync_mirrors(
    client: &Arc<dyn Client>,
    node: &str,
    pods: &[Pod],
) -> Result<(), String> {
    let all: Api<Pod> = Api::all(client.clone());
    let listed = all
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .map_err(|e| e.to_string())?;
    let existing: HashMap<(String, String), Pod> = listed
        .items
        .into_iter()
        .filter(is_mirror)
        .map(|p| {
            let key = (
                p.metadata.namespace.clone().unwrap_or_default(),
                p.metadata.name.clone().unwrap_or_default(),
            );
            (key, p)
        })
        .collect();
    let node_uid = Api::<Node>::all(client.clone())
        .get_opt(node)
        .await
        .ok()
        .flatten()
        .and_then(|n| n.metadata.uid);
    let force_delete = |uid: Option<String>| DeleteParams {
        grace_period_seconds: Some(0),
        precondition_uid: uid,
        ..DeleteParams::default()
    };
    let mut wanted = std::collections::HashSet::new();
    for pod in pods {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        wanted.insert((ns.clone(), name.clone()));
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        if let Some(m) = existing.get(&(ns.clone(), name.clone())) {
            let current = hash_of(m, MIRROR_ANNOTATION) == hash_of(pod, HASH_ANNOTATION);
            if current && m.metadata.deletion_timestamp.is_none() {
                continue;
            }
            // Stale, or being deleted by a user: delete it now and publish it again.
            match api
                .delete(&name, &force_delete(m.metadata.uid.clone()))
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_not_found() || e.is_conflict() => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        match api
            .create(&mirror_of(pod, node_uid.as_deref()), &PostParams::default())
            .await
        {
            Ok(_) => {}
            Err(e) if e.code() == Some(409) => {}
            Err(e) => return Err(format!("creating mirror pod {ns}/{name}: {e}")),
        }
    }
    for ((ns, name), m) in existing {
        if wanted.contains(&(ns.clone(), name.clone())) {
            continue;
        }
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        match api
            .delete(&name, &force_delete(m.metadata.uid.clone()))
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() || e.is_conflict() => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

/// Runs the static pods of `config.pod_manifest_path` until `stop` fires, then tears
/// them down. Their events go to `events`.
pub async fn run(
    client: Arc<dyn Client>,
    runtime: Arc<dyn Runtime>,
    config: Arc<AgentConfig>,
    events: EventSink,
    mut stop: oneshot::Receiver<()>,
) {
    let Some(dir) = config.pod_manifest_path.clone() else {
        return;
    };
    let node = config.node_name.clone();
    let mut workers: HashMap<String, (watch::Sender<Pod>, JoinHandle<()>)> = HashMap::new();
    let mut tick = tokio::time::interval(config.static_pod_check);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut mirrors: Option<JoinHandle<()>> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => break,
        }
        let read_dir = dir.clone();
        let read_node = node.clone();
        let pods = tokio::task::spawn_blocking(move || read_manifests(&read_dir, &read_node))
            .await
            .unwrap_or_default();
        let live: std::collections::HashSet<String> =
            pods.iter().filter_map(|p| p.metadata.uid.clone()).collect();
        workers.retain(|uid, _| live.contains(uid));
        for pod in &pods {
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            if workers.get(&uid).is_some_and(|(_, h)| !h.is_finished()) {
                continue;
            }
            let worker = PodWorker::new(client.clone(), runtime.clone(), config.clone(), pod)
                .with_events(events.clone(), pod);
            let (tx, rx) = watch::channel(pod.clone());
            workers.insert(uid, (tx, tokio::spawn(worker.run(rx))));
        }
        // Publishing mirrors must not hold the static pods up while the API server
        // is unreachable: one attempt at a time, in the background.
        if mirrors.as_ref().is_none_or(|h| h.is_finished()) {
            let client = client.clone();
            let node = node.clone();
            mirrors = Some(tokio::spawn(async move {
                if let Err(e) = sync_mirrors(&client, &node, &pods).await {
                    tracing::debug!(node = %node, error = %e, "publishing mirror pods failed; retrying");
                }
            }));
        }
    }
    if let Some(h) = mirrors {
        h.abort();
    }
    let handles: Vec<JoinHandle<()>> = workers.drain().map(|(_, (_, h))| h).collect();
    for h in handles {
        let _ = h.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_parse_name_and_hash() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("a.json"),
            r#"{"metadata":{"name":"a","namespace":"kube-system"},"spec":{"containers":[{"name":"c"}]}}"#,
        )
        .unwrap();
        std::fs::write(d.join("bad.yaml"), "metadata: [").unwrap();
        std::fs::write(
            d.join("nocontainers.yaml"),
            "metadata:\n  name: x\nspec:\n  containers: []\n",
        )
        .unwrap();
        std::fs::write(d.join(".hidden.yaml"), "metadata:\n  name: h\n").unwrap();
        std::fs::write(d.join("notes.txt"), "hello").unwrap();
        let pods = read_manifests(d, "n1");
        assert_eq!(pods.len(), 1);
        let p = &pods[0];
        assert_eq!(p.metadata.name.as_deref(), Some("a-n1"));
        assert_eq!(p.metadata.namespace.as_deref(), Some("kube-system"));
        let uid = p.metadata.uid.clone().unwrap();
        assert_eq!(
            read_manifests(d, "n1")[0].metadata.uid.as_deref(),
            Some(uid.as_str())
        );
        assert_ne!(
            read_manifests(d, "n2")[0].metadata.uid.as_deref(),
            Some(uid.as_str())
        );
        let mirror = mirror_of(p, Some("node-uid"));
        assert!(is_mirror(&mirror));
        assert!(mirror.metadata.uid.is_none());
        assert_eq!(
            hash_of(&mirror, MIRROR_ANNOTATION),
            hash_of(p, HASH_ANNOTATION)
        );
        assert!(read_manifests(&d.join("missing"), "n1").is_empty());
    }
}
