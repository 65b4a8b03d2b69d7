//! A container's CPU and memory limits for the runtime, from its spec's
//! `resources` (`limits.cpu`, `limits.memory`, `requests.cpu`).
//!
//! ```
//! use k8s_openapi::api::core::v1::Container;
//! use skiff_node::agent::limits::container_resources;
//! let c: Container = serde_json::from_value(serde_json::json!({
//!     "name": "c", "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}
//! })).unwrap();
//! let r = container_resources(&c).unwrap();
//! assert_eq!(r.cpu_limit_millis, Some(500));
//! assert_eq!(r.memory_limit_bytes, Some(64 << 20));
//! ```

use k8s_openapi::api::core::v1::Container;
use skiff_core::quantity::Quantity;

use crate::runtime::ContainerResources;

fn quantity(
    q: Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
) -> Option<Quantity> {
    q.and_then(|q| Quantity::parse(&q.0).ok())
}

/// The limits of `container`; `None` when it sets none. Unparsable quantities (the
/// API server validates them) are ignored.
pub fn container_resources(container: &Container) -> Option<ContainerResources> {
    let res = container.resources.as_ref()?;
    let limits = res.limits.as_ref();
    let requests = res.requests.as_ref();
    let positive = |v: i64| u64::try_from(v).ok().filter(|v| *v > 0);
    let out = ContainerResources {
        cpu_limit_millis: quantity(limits.and_then(|l| l.get("cpu")))
            .and_then(|q| positive(q.milli_value())),
        cpu_request_millis: quantity(requests.and_then(|l| l.get("cpu")))
            .and_then(|q| positive(q.milli_value())),
        memory_limit_bytes: quantity(limits.and_then(|l| l.get("memory")))
            .and_then(|q| positive(q.value())),
    };
    (out != ContainerResources::default()).then_some(out)
}
