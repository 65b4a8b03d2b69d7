//! The descriptors of the built-in kinds Skiff serves, as Kubernetes 1.33's discovery
//! (`kubectl api-resources -o wide`) lists them.

use super::{ApiResource, Subresource, ALL_VERBS};

/// The descriptors of every built-in resource, core group first, in the order that
/// makes [`super::find_by_short_name`] pick what kubectl picks (core `events` before
/// `events.k8s.io` events for `ev`).
pub fn builtin_resources() -> Vec<ApiResource> {
    vec![
        // core/v1
        core("Namespace", "namespaces", false)
            .verbs(&[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ])
            .short(&["ns"])
            .sub(status()),
        core("Pod", "pods", true)
            .short(&["po"])
            .categories(&["all"])
            .sub(status())
            .sub(sub("binding", "", "v1", "Binding", &["create"]))
            .sub(sub("eviction", "policy", "v1", "Eviction", &["create"]))
            .sub(sub("log", "", "v1", "Pod", &["get"]))
            .sub(sub("exec", "", "v1", "PodExecOptions", &["create", "get"]))
            .sub(sub(
                "attach",
                "",
                "v1",
                "PodAttachOptions",
                &["create", "get"],
            ))
            .sub(sub(
                "portforward",
                "",
                "v1",
                "PodPortForwardOptions",
                &["create", "get"],
            )),
        core("Node", "nodes", false).short(&["no"]).sub(status()),
        core("Service", "services", true)
            .short(&["svc"])
            .categories(&["all"])
            .sub(status()),
        core("Endpoints", "endpoints", true).short(&["ep"]),
        core("ConfigMap", "configmaps", true).short(&["cm"]),
        core("Secret", "secrets", true),
        core("ServiceAccount", "serviceaccounts", true).short(&["sa"]),
        core("Event", "events", true).short(&["ev"]),
        core("PersistentVolumeClaim", "persistentvolumeclaims", true)
            .short(&["pvc"])
            .sub(status()),
        core("PersistentVolume", "persistentvolumes", false)
            .short(&["pv"])
            .sub(status()),
        core("ResourceQuota", "resourcequotas", true)
            .short(&["quota"])
            .sub(status()),
        core("LimitRange", "limitranges", true).short(&["limits"]),
        core("ReplicationController", "replicationcontrollers", true)
            .short(&["rc"])
            .categories(&["all"])
            .sub(status())
            .sub(scale()),
        // apps/v1
        apps("Deployment", "deployments")
            .short(&["deploy"])
            .categories(&["all"])
            .sub(status())
            .sub(scale()),
        apps("ReplicaSet", "replicasets")
            .short(&["rs"])
            .categories(&["all"])
            .sub(status())
            .sub(scale()),
        apps("StatefulSet", "statefulsets")
            .short(&["sts"])
            .categories(&["all"])
            .sub(status())
            .sub(scale()),
        apps("DaemonSet", "daemonsets")
            .short(&["ds"])
            .categories(&["all"])
            .sub(status()),
        apps("ControllerRevision", "controllerrevisions"),
        // batch/v1
        resource("batch", "v1", "Job", "jobs", true)
            .categories(&["all"])
            .sub(status()),
        resource("batch", "v1", "CronJob", "cronjobs", true)
            .short(&["cj"])
            .categories(&["all"])
            .sub(status()),
        // coordination.k8s.io/v1
        resource("coordination.k8s.io", "v1", "Lease", "leases", true),
        // discovery.k8s.io/v1
        resource(
            "discovery.k8s.io",
            "v1",
            "EndpointSlice",
            "endpointslices",
            true,
        ),
        // events.k8s.io/v1
        resource("events.k8s.io", "v1", "Event", "events", true).short(&["ev"]),
        // policy/v1
        resource(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
        )
        .short(&["pdb"])
        .sub(status()),
        // scheduling.k8s.io/v1
        resource(
            "scheduling.k8s.io",
            "v1",
            "PriorityClass",
            "priorityclasses",
            false,
        )
        .short(&["pc"]),
        // apiextensions.k8s.io/v1
        resource(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
        )
        .short(&["crd", "crds"])
        .categories(&["api-extensions"])
        .sub(status()),
    ]
}

/// A read-write resource with every verb and no short names, categories or
/// subresources; the singular name is the lower-cased kind, as in Kubernetes.
fn resource(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> ApiResource {
    ApiResource {
        group: group.to_owned(),
        version: version.to_owned(),
        kind: kind.to_owned(),
        plural: plural.to_owned(),
        singular: kind.to_ascii_lowercase(),
        namespaced,
        short_names: Vec::new(),
        categories: Vec::new(),
        verbs: strings(&ALL_VERBS),
        subresources: Vec::new(),
    }
}

fn core(kind: &str, plural: &str, namespaced: bool) -> ApiResource {
    resource("", "v1", kind, plural, namespaced)
}

fn apps(kind: &str, plural: &str) -> ApiResource {
    resource("apps", "v1", kind, plural, true)
}

fn sub(name: &str, group: &str, version: &str, kind: &str, verbs: &[&str]) -> Subresource {
    Subresource {
        name: name.to_owned(),
        group: group.to_owned(),
        version: version.to_owned(),
        kind: kind.to_owned(),
        verbs: strings(verbs),
    }
}

/// The scale subresource: `autoscaling/v1 Scale`, get/patch/update.
fn scale() -> Subresource {
    sub(
        "scale",
        "autoscaling",
        "v1",
        "Scale",
        &["get", "patch", "update"],
    )
}

/// A placeholder the builder replaces with the resource's own kind: the status
/// subresource returns the whole object.
fn status() -> Subresource {
    sub("status", "", "", "", &["get", "patch", "update"])
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl ApiResource {
    fn verbs(mut self, verbs: &[&str]) -> Self {
        self.verbs = strings(verbs);
        self
    }

    fn short(mut self, names: &[&str]) -> Self {
        self.short_names = strings(names);
        self
    }

    fn categories(mut self, categories: &[&str]) -> Self {
        self.categories = strings(categories);
        self
    }

    /// Adds a subresource; one with an empty kind (status) takes the resource's own
    /// group, version and kind.
    fn sub(mut self, mut subresource: Subresource) -> Self {
        if subresource.kind.is_empty() {
            subresource.group = self.group.clone();
            subresource.version = self.version.clone();
            subresource.kind = self.kind.clone();
        }
        self.subresources.push(subresource);
        self
    }
}
