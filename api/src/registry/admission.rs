//! Admission that reads other stored objects: Kubernetes' admission plugins that
//! look at the cluster (Priority resolving a pod's class, for one). A
//! [`Registry`](super::Registry) with [`Admission`]s runs them on create (after
//! defaulting, before validation) and on update (on the prepared object, before its
//! write); an error answers the request and nothing is stored.
//!
//! ```
//! use skiff_api::registry::Admission;
//! fn boxed(a: std::sync::Arc<dyn Admission>) -> Vec<std::sync::Arc<dyn Admission>> { vec![a] }
//! ```

use serde_json::Value;
use skiff_core::status::ApiError;
use skiff_store::KvStore;

/// One admission step for one resource's writes.
#[async_trait::async_trait]
pub trait Admission: Send + Sync + std::fmt::Debug {
    /// Before `new` is stored over `old` (`None` on create): may change `new`, or
    /// refuse the write.
    async fn admit(
        &self,
        store: &dyn KvStore,
        old: Option<&Value>,
        new: &mut Value,
    ) -> Result<(), ApiError>;
}
