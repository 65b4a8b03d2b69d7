//! [`ResourceRef`] and [`ObjectTarget`]: what a client call addresses, and its URL path.

use crate::resource::ApiResource;

use super::ClientError;

/// A REST collection: group, version, plural and scope.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourceRef {
    /// API group; empty for the core group.
    pub group: String,
    /// API version, such as `v1`.
    pub version: String,
    /// Plural name used in URLs, such as `pods`.
    pub plural: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
}

impl ResourceRef {
    /// A collection from its parts.
    pub fn new(group: &str, version: &str, plural: &str, namespaced: bool) -> Self {
        ResourceRef {
            group: group.to_owned(),
            version: version.to_owned(),
            plural: plural.to_owned(),
            namespaced,
        }
    }

    /// The collection of a k8s-openapi type.
    pub fn of<K: k8s_openapi::Resource>() -> Self
    where
        K::Scope: 'static,
    {
        ResourceRef::new(
            K::GROUP,
            K::VERSION,
            K::URL_PATH_SEGMENT,
            std::any::TypeId::of::<K::Scope>()
                == std::any::TypeId::of::<k8s_openapi::NamespaceResourceScope>(),
        )
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        crate::resource::join_api_version(&self.group, &self.version)
    }

    /// The path prefix of the group version: `/api/v1` or `/apis/apps/v1`.
    pub fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
}

impl From<&ApiResource> for ResourceRef {
    fn from(r: &ApiResource) -> Self {
        ResourceRef::new(&r.group, &r.version, &r.plural, r.namespaced)
    }
}

/// What one call addresses: a collection (all namespaces or one), an object, or an
/// object's subresource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectTarget {
    /// The collection.
    pub resource: ResourceRef,
    /// The namespace; `None` for cluster-scoped resources or all namespaces.
    pub namespace: Option<String>,
    /// The object's name; `None` for the collection.
    pub name: Option<String>,
    /// The subresource (`status`, `scale`, `binding`, `eviction`), if any.
    pub subresource: Option<String>,
}

impl ObjectTarget {
    /// A collection, in one namespace or (with `None`) across all of them.
    pub fn collection(resource: &ResourceRef, namespace: Option<&str>) -> Self {
        ObjectTarget {
            resource: resource.clone(),
            namespace: namespace.map(str::to_owned),
            name: None,
            subresource: None,
        }
    }

    /// One object.
    pub fn object(resource: &ResourceRef, namespace: Option<&str>, name: &str) -> Self {
        ObjectTarget {
            name: Some(name.to_owned()),
            ..ObjectTarget::collection(resource, namespace)
        }
    }

    /// The same target's subresource.
    pub fn with_subresource(mut self, subresource: &str) -> Self {
        self.subresource = Some(subresource.to_owned());
        self
    }

    /// The name, or an error naming the verb when there is none (a get without a name
    /// would silently become a list).
    pub fn require_name(&self, verb: &str) -> Result<&str, ClientError> {
        match self.name.as_deref() {
            Some(n) if !n.is_empty() => Ok(n),
            _ => Err(ClientError::InvalidRequest(format!(
                "{verb} of {} needs an object name",
                self.resource.plural
            ))),
        }
    }

    /// The URL path (no query): `/api/v1/namespaces/ns/pods/name/status`. Refuses
    /// empty or path-breaking names, a namespace on a cluster-scoped resource, and a
    /// subresource without a name.
    pub fn path(&self) -> Result<String, ClientError> {
        let mut path = self.resource.group_version_path();
        let bad =
            |what: &str, v: &str| ClientError::InvalidRequest(format!("invalid {what} {v:?}"));
        let segment_ok =
            |v: &str| !v.is_empty() && v != "." && v != ".." && !v.contains(['/', '%', '?', '#']);
        if let Some(ns) = self.namespace.as_deref() {
            if !self.resource.namespaced {
                return Err(ClientError::InvalidRequest(format!(
                    "{} is cluster-scoped; no namespace may be given",
                    self.resource.plural
                )));
            }
            if !segment_ok(ns) {
                return Err(bad("namespace", ns));
            }
            path.push_str("/namespaces/");
            path.push_str(ns);
        }
        path.push('/');
        path.push_str(&self.resource.plural);
        if let Some(name) = self.name.as_deref() {
            if !segment_ok(name) {
                return Err(bad("name", name));
            }
            path.push('/');
            path.push_str(name);
        }
        if let Some(sub) = self.subresource.as_deref() {
            if self.name.is_none() {
                return Err(ClientError::InvalidRequest(format!(
                    "subresource {sub} needs an object name"
                )));
            }
            if !segment_ok(sub) {
                return Err(bad("subresource", sub));
            }
            path.push('/');
            path.push_str(sub);
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let deploy = ResourceRef::new("apps", "v1", "deployments", true);
        let nodes = ResourceRef::new("", "v1", "nodes", false);
        assert_eq!(
            ObjectTarget::collection(&deploy, None).path().unwrap(),
            "/apis/apps/v1/deployments"
        );
        assert_eq!(
            ObjectTarget::object(&deploy, Some("a"), "web")
                .with_subresource("scale")
                .path()
                .unwrap(),
            "/apis/apps/v1/namespaces/a/deployments/web/scale"
        );
        assert_eq!(
            ObjectTarget::object(&nodes, None, "n1").path().unwrap(),
            "/api/v1/nodes/n1"
        );
        assert!(ObjectTarget::object(&nodes, Some("x"), "n1")
            .path()
            .is_err());
        assert!(ObjectTarget::object(&deploy, Some("a"), "").path().is_err());
        assert!(ObjectTarget::object(&deploy, Some("a"), "../x")
            .path()
            .is_err());
        assert!(ObjectTarget::collection(&deploy, Some("a"))
            .with_subresource("status")
            .path()
            .is_err());
    }
}
