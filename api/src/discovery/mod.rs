//! Discovery: how clients learn which groups, versions and resources the server has.
//!
//! Both forms Kubernetes serves, from the same resource table:
//! - legacy: `GET /api` (`APIVersions`), `GET /apis` (`APIGroupList`), `GET /apis/{g}`
//!   (`APIGroup`), and `GET /api/v1`, `GET /apis/{g}/{v}` (`APIResourceList`, with
//!   subresources as `pods/status` entries);
//! - aggregated (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`) on `/api` and `/apis`
//!   when the Accept header asks for
//!   `application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`.
//!
//! Plus `GET /version`. The documents are built by pure functions over
//! `&[ApiResource]` ([`legacy`], [`aggregated`]); [`router`] serves them from a
//! [`ResourceSource`] read on each request, so resources added at run time (custom
//! resources) show up at once.

mod aggregated;
mod legacy;
mod negotiate;
mod routes;
mod version;

pub use aggregated::{aggregated_discovery, AGGREGATED_CONTENT_TYPE};
pub use legacy::{api_group, api_group_list, api_resource_list, api_versions};
pub use negotiate::wants_aggregated;
pub use routes::{router, ResourceSource};
pub use version::{version_info, KUBERNETES_MAJOR, KUBERNETES_MINOR};

use skiff_core::resource::ApiResource;

/// The groups in `resources` (excluding the core group), each with its versions, in
/// the order they first appear (which is the preference order: first version preferred).
pub(crate) fn groups(resources: &[ApiResource]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for r in resources.iter().filter(|r| !r.group.is_empty()) {
        match groups.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) => {
                if !versions.contains(&r.version) {
                    versions.push(r.version.clone());
                }
            }
            None => groups.push((r.group.clone(), vec![r.version.clone()])),
        }
    }
    groups
}
