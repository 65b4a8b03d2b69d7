//! Group/version/kind and group/version/resource: the names Kubernetes gives to a type
//! and to the REST collection that serves it.

use std::fmt;

/// The identity of a Kubernetes type: API group, version and kind (`apps`, `v1`,
/// `Deployment`). The core group is the empty string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupVersionKind {
    /// API group; empty for the core (legacy) group.
    pub group: String,
    /// API version within the group, such as `v1`.
    pub version: String,
    /// Kind, such as `Deployment`.
    pub kind: String,
}

impl GroupVersionKind {
    /// A group/version/kind from its three parts.
    pub fn new(group: &str, version: &str, kind: &str) -> Self {
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
        }
    }

    /// The group/version/kind of an object's `apiVersion` and `kind` fields
    /// (`"apps/v1"`, `"Deployment"`). `None` when `apiVersion` has more than one `/`
    /// or an empty part.
    pub fn from_api_version_kind(api_version: &str, kind: &str) -> Option<Self> {
        let (group, version) = split_api_version(api_version)?;
        Some(Self::new(group, version, kind))
    }

    /// The `apiVersion` string of this kind: `v1` for the core group, else `group/version`.
    pub fn api_version(&self) -> String {
        join_api_version(&self.group, &self.version)
    }
}

impl fmt::Display for GroupVersionKind {
    /// Prints `apps/v1, Kind=Deployment` like Kubernetes' `schema.GroupVersionKind`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, Kind={}", self.api_version(), self.kind)
    }
}

/// The identity of a REST collection: API group, version and plural resource name
/// (`apps`, `v1`, `deployments`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupVersionResource {
    /// API group; empty for the core (legacy) group.
    pub group: String,
    /// API version within the group.
    pub version: String,
    /// Plural resource name, such as `deployments`.
    pub resource: String,
}

impl GroupVersionResource {
    /// A group/version/resource from its three parts.
    pub fn new(group: &str, version: &str, resource: &str) -> Self {
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            resource: resource.to_owned(),
        }
    }

    /// The `apiVersion` string of this resource's group and version.
    pub fn api_version(&self) -> String {
        join_api_version(&self.group, &self.version)
    }
}

impl fmt::Display for GroupVersionResource {
    /// Prints `apps/v1, Resource=deployments` like Kubernetes' `schema.GroupVersionResource`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, Resource={}", self.api_version(), self.resource)
    }
}

/// Splits an `apiVersion` into group and version: `"v1"` -> `("", "v1")`,
/// `"apps/v1"` -> `("apps", "v1")`. `None` for an empty part or more than one `/`.
pub fn split_api_version(api_version: &str) -> Option<(&str, &str)> {
    match api_version.split_once('/') {
        None if !api_version.is_empty() => Some(("", api_version)),
        Some((group, version))
            if !group.is_empty() && !version.is_empty() && !version.contains('/') =>
        {
            Some((group, version))
        }
        _ => None,
    }
}

/// Joins a group and version into an `apiVersion` (`v1` for the core group).
pub fn join_api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_version_splits_and_joins() {
        let cases = [
            ("v1", Some(("", "v1"))),
            ("apps/v1", Some(("apps", "v1"))),
            (
                "coordination.k8s.io/v1",
                Some(("coordination.k8s.io", "v1")),
            ),
            ("", None),
            ("/v1", None),
            ("apps/", None),
            ("a/b/c", None),
        ];
        for (input, want) in cases {
            assert_eq!(split_api_version(input), want, "{input:?}");
            if let Some((g, v)) = want {
                assert_eq!(join_api_version(g, v), input);
            }
        }
    }

    #[test]
    fn display_matches_kubernetes() {
        let gvk = GroupVersionKind::from_api_version_kind("apps/v1", "Deployment").unwrap();
        assert_eq!(gvk.to_string(), "apps/v1, Kind=Deployment");
        let gvr = GroupVersionResource::new("", "v1", "pods");
        assert_eq!(gvr.to_string(), "v1, Resource=pods");
    }
}
