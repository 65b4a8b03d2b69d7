//! The resources the namespace controller and the garbage collector walk: every
//! built-in resource that can be listed, watched and deleted.
//!
//! ```
//! let all = skiff_controllers::resources::deletable();
//! assert!(all.iter().any(|r| r.plural == "pods"));
//! assert!(all.iter().all(|r| r.verbs.iter().any(|v| v == "delete")));
//! ```

use skiff_core::client::ResourceRef;
use skiff_core::resource::{builtin_resources, ApiResource};

/// Built-in resources with `list`, `watch` and `delete`, one version per group and
/// plural (the first the table lists).
pub fn deletable() -> Vec<ApiResource> {
    let mut seen = std::collections::HashSet::new();
    builtin_resources()
        .into_iter()
        .filter(|r| ["list", "watch", "delete"].iter().all(|v| r.supports(v)))
        .filter(|r| seen.insert((r.group.clone(), r.plural.clone())))
        .collect()
}

/// The resource of `kind` in the group of `api_version` among `resources`.
pub fn by_kind<'a>(
    resources: &'a [ApiResource],
    api_version: &str,
    kind: &str,
) -> Option<(usize, &'a ApiResource)> {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    resources
        .iter()
        .enumerate()
        .find(|(_, r)| r.kind == kind && r.group == group)
}

/// The client's reference to `r`.
pub fn reference(r: &ApiResource) -> ResourceRef {
    ResourceRef::from(r)
}
