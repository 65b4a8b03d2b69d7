//! DefaultBinder: binds through the `pods/binding` subresource, as kube-scheduler
//! does.
//!
//! ```
//! let b = skiff_sched::plugins::default_binder::binding_body("web", "uid-1", "n1");
//! assert_eq!(b["target"]["name"], "n1");
//! assert_eq!(b["kind"], "Binding");
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};
use skiff_core::client::{Client, ObjectTarget, PostParams, ResourceRef};

use crate::framework::{BindPlugin, CycleState, Plugin, Status};
use crate::pod::{name, namespace};

/// The plugin's name.
pub const NAME: &str = "DefaultBinder";

/// The `Binding` object that binds pod `pod` (with `uid`) to `node`.
pub fn binding_body(pod: &str, uid: &str, node: &str) -> Value {
    let mut meta = json!({"name": pod});
    if !uid.is_empty() {
        meta["uid"] = uid.into();
    }
    json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": meta,
        "target": {"apiVersion": "v1", "kind": "Node", "name": node}
    })
}

/// The default Bind plugin.
pub struct DefaultBinder {
    client: Arc<dyn Client>,
    pods: ResourceRef,
}

impl std::fmt::Debug for DefaultBinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultBinder").finish_non_exhaustive()
    }
}

impl DefaultBinder {
    /// A binder over `client`.
    pub fn new(client: Arc<dyn Client>) -> Self {
        DefaultBinder {
            client,
            pods: ResourceRef::new("", "v1", "pods", true),
        }
    }
}

impl Plugin for DefaultBinder {
    fn name(&self) -> &str {
        NAME
    }
    fn as_bind(&self) -> Option<&dyn BindPlugin> {
        Some(self)
    }
}

#[async_trait]
impl BindPlugin for DefaultBinder {
    async fn bind(&self, _: &CycleState, pod: &Pod, node: &str) -> Status {
        let target = ObjectTarget::object(&self.pods, Some(namespace(pod)), name(pod))
            .with_subresource("binding");
        let body = binding_body(name(pod), pod.metadata.uid.as_deref().unwrap_or(""), node);
        match self
            .client
            .create(&target, body, &PostParams::default())
            .await
        {
            Ok(_) => Status::success(),
            Err(e) => Status::error(format!(
                "binding pod {}/{} to {node}: {e}",
                namespace(pod),
                name(pod)
            )),
        }
    }
}
