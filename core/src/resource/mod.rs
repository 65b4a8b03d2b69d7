//! The resource descriptor table: for every REST collection the API serves, its group,
//! version, kind, plural and singular names, scope, short names, categories, verbs and
//! subresources. The API server's discovery and routing and every client read it.
//!
//! # Organization
//! - [`ApiResource`] and [`Subresource`]: one descriptor per collection.
//! - [`builtin_resources`]: the table of the built-in kinds Skiff serves.
//! - [`GroupVersionKind`] / [`GroupVersionResource`]: the two names of a type.
//! - [`find_by_resource`], [`find_by_kind`], [`find_by_short_name`], [`resolve`]: lookups
//!   over any slice of descriptors (built-in or custom).
//!
//! ```
//! use skiff_core::resource::{builtin_resources, resolve};
//!
//! let all = builtin_resources();
//! let deploy = resolve(&all, "deploy").expect("kubectl's short name");
//! assert_eq!(deploy.api_version(), "apps/v1");
//! assert_eq!(deploy.subresource("scale").unwrap().kind, "Scale");
//! ```

mod builtin;
mod gvk;

pub use builtin::builtin_resources;
pub use gvk::{join_api_version, split_api_version, GroupVersionKind, GroupVersionResource};

/// Every verb a full read-write collection supports, in the order Kubernetes' discovery
/// lists them.
pub const ALL_VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// One REST collection the API serves, as discovery describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiResource {
    /// API group; empty for the core group.
    pub group: String,
    /// API version, such as `v1`.
    pub version: String,
    /// Kind of the objects in the collection, such as `Pod`.
    pub kind: String,
    /// Plural name used in URLs, such as `pods`.
    pub plural: String,
    /// Singular name, such as `pod` (Kubernetes uses the lower-cased kind).
    pub singular: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names kubectl accepts, such as `po`.
    pub short_names: Vec<String>,
    /// Categories, such as `all` (what `kubectl get all` lists).
    pub categories: Vec<String>,
    /// Verbs the collection supports, such as `get`, `list`, `watch`.
    pub verbs: Vec<String>,
    /// Subresources, such as `status` or `scale`.
    pub subresources: Vec<Subresource>,
}

/// A subresource of an [`ApiResource`], such as `pods/status` or `deployments/scale`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subresource {
    /// Name after the object's name in the URL, such as `status`.
    pub name: String,
    /// Group of the subresource's kind (`autoscaling` for scale); empty for core.
    pub group: String,
    /// Version of the subresource's kind.
    pub version: String,
    /// Kind sent and returned, such as `Scale` or `Binding`.
    pub kind: String,
    /// Verbs the subresource supports.
    pub verbs: Vec<String>,
}

impl ApiResource {
    /// The `apiVersion` of this resource's objects: `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        join_api_version(&self.group, &self.version)
    }

    /// The group/version/kind of this resource's objects.
    pub fn gvk(&self) -> GroupVersionKind {
        GroupVersionKind::new(&self.group, &self.version, &self.kind)
    }

    /// The group/version/resource of this collection.
    pub fn gvr(&self) -> GroupVersionResource {
        GroupVersionResource::new(&self.group, &self.version, &self.plural)
    }

    /// The resource name qualified by its group the way Kubernetes prints it in
    /// errors: `pods`, `deployments.apps`.
    pub fn qualified_resource(&self) -> String {
        qualify(&self.plural, &self.group)
    }

    /// The kind qualified by its group: `Pod`, `Deployment.apps`.
    pub fn qualified_kind(&self) -> String {
        qualify(&self.kind, &self.group)
    }

    /// The subresource with this name, if the resource has one.
    pub fn subresource(&self, name: &str) -> Option<&Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// Whether the collection supports `verb`.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// The URL path of the collection: `/api/v1/namespaces/{ns}/pods`,
    /// `/apis/apps/v1/deployments` (all namespaces, or a cluster-scoped resource).
    /// A namespace given for a cluster-scoped resource is ignored.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let root = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) if self.namespaced => format!("{root}/namespaces/{ns}/{}", self.plural),
            _ => format!("{root}/{}", self.plural),
        }
    }

    /// The URL path of one object: the collection path followed by `/{name}`.
    pub fn object_path(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}/{name}", self.collection_path(namespace))
    }
}

impl Subresource {
    /// The `apiVersion` of the subresource's kind.
    pub fn api_version(&self) -> String {
        join_api_version(&self.group, &self.version)
    }

    /// Whether the subresource supports `verb`.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

fn qualify(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_owned()
    } else {
        format!("{name}.{group}")
    }
}

/// The resource with this group, version and plural name.
pub fn find_by_resource<'a>(
    resources: &'a [ApiResource],
    group: &str,
    version: &str,
    plural: &str,
) -> Option<&'a ApiResource> {
    resources
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource serving objects of this group, version and kind.
pub fn find_by_kind<'a>(
    resources: &'a [ApiResource],
    gvk: &GroupVersionKind,
) -> Option<&'a ApiResource> {
    resources
        .iter()
        .find(|r| r.group == gvk.group && r.version == gvk.version && r.kind == gvk.kind)
}

/// The first resource (in table order) with this short name. Short names are not
/// unique across groups (`ev` is both core and `events.k8s.io` events); the table puts
/// the one kubectl prefers first.
pub fn find_by_short_name<'a>(
    resources: &'a [ApiResource],
    short_name: &str,
) -> Option<&'a ApiResource> {
    resources
        .iter()
        .find(|r| r.short_names.iter().any(|s| s == short_name))
}

/// Resolves a name the way `kubectl get NAME` does: plural, singular, short name or kind
/// (case-insensitive), optionally qualified with `.group` or `.version.group`
/// (`deployments.apps`, `deploy.v1.apps`). The first match in table order wins.
pub fn resolve<'a>(resources: &'a [ApiResource], name: &str) -> Option<&'a ApiResource> {
    let name = name.to_ascii_lowercase();
    let names_match = |r: &ApiResource, n: &str| {
        r.plural == n
            || r.singular == n
            || r.kind.eq_ignore_ascii_case(n)
            || r.short_names.iter().any(|s| s == n)
    };
    if let Some(found) = resources.iter().find(|r| names_match(r, &name)) {
        return Some(found);
    }
    let (base, qualifier) = name.split_once('.')?;
    resources.iter().find(|r| {
        names_match(r, base)
            && (r.group == qualifier || format!("{}.{}", r.version, r.group) == qualifier)
    })
}

#[cfg(test)]
mod tests;
