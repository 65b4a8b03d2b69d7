use std::collections::BTreeSet;

use k8s_openapi::api::{
    apps, batch, coordination, core::v1 as corev1, discovery, events, policy, scheduling,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextv1;
use k8s_openapi::Resource;

use super::*;

/// What k8s-openapi says about one type: (apiVersion, kind, plural, namespaced).
type TypeFacts = (&'static str, &'static str, &'static str, bool);

fn facts<T: Resource>() -> TypeFacts {
    let namespaced = std::any::type_name::<T::Scope>().ends_with("NamespaceResourceScope");
    (T::API_VERSION, T::KIND, T::URL_PATH_SEGMENT, namespaced)
}

fn openapi_types() -> Vec<TypeFacts> {
    vec![
        facts::<corev1::Namespace>(),
        facts::<corev1::Pod>(),
        facts::<corev1::Node>(),
        facts::<corev1::Service>(),
        facts::<corev1::Endpoints>(),
        facts::<corev1::ConfigMap>(),
        facts::<corev1::Secret>(),
        facts::<corev1::ServiceAccount>(),
        facts::<corev1::Event>(),
        facts::<corev1::PersistentVolumeClaim>(),
        facts::<corev1::PersistentVolume>(),
        facts::<corev1::ResourceQuota>(),
        facts::<corev1::LimitRange>(),
        facts::<corev1::ReplicationController>(),
        facts::<apps::v1::Deployment>(),
        facts::<apps::v1::ReplicaSet>(),
        facts::<apps::v1::StatefulSet>(),
        facts::<apps::v1::DaemonSet>(),
        facts::<apps::v1::ControllerRevision>(),
        facts::<batch::v1::Job>(),
        facts::<batch::v1::CronJob>(),
        facts::<coordination::v1::Lease>(),
        facts::<discovery::v1::EndpointSlice>(),
        facts::<events::v1::Event>(),
        facts::<policy::v1::PodDisruptionBudget>(),
        facts::<scheduling::v1::PriorityClass>(),
        facts::<apiextv1::CustomResourceDefinition>(),
    ]
}

#[test]
fn every_builtin_agrees_with_k8s_openapi() {
    let table = builtin_resources();
    let types = openapi_types();
    assert_eq!(
        table.len(),
        types.len(),
        "one table row per k8s-openapi type"
    );
    for (api_version, kind, plural, namespaced) in types {
        let (group, version) = split_api_version(api_version).unwrap();
        let r = find_by_resource(&table, group, version, plural)
            .unwrap_or_else(|| panic!("{api_version} {plural} missing"));
        assert_eq!(r.kind, kind, "{plural}");
        assert_eq!(r.api_version(), api_version, "{plural}");
        assert_eq!(r.namespaced, namespaced, "{plural} scope");
        assert_eq!(r.singular, kind.to_ascii_lowercase(), "{plural} singular");
        assert_eq!(
            find_by_kind(&table, &GroupVersionKind::new(group, version, kind)),
            Some(r)
        );
    }
}

#[test]
fn subresource_kinds_are_real_types() {
    let table = builtin_resources();
    let want: &[(&str, &str, &str, &str)] = &[
        (
            "pods",
            "binding",
            corev1::Binding::API_VERSION,
            corev1::Binding::KIND,
        ),
        (
            "pods",
            "eviction",
            policy::v1::Eviction::API_VERSION,
            policy::v1::Eviction::KIND,
        ),
        ("pods", "status", "v1", "Pod"),
        ("pods", "log", "v1", "Pod"),
        ("pods", "exec", "v1", "PodExecOptions"),
        ("pods", "attach", "v1", "PodAttachOptions"),
        ("pods", "portforward", "v1", "PodPortForwardOptions"),
        ("nodes", "status", "v1", "Node"),
        ("services", "status", "v1", "Service"),
        ("deployments", "status", "apps/v1", "Deployment"),
        ("deployments", "scale", "autoscaling/v1", "Scale"),
        ("replicasets", "scale", "autoscaling/v1", "Scale"),
        ("statefulsets", "scale", "autoscaling/v1", "Scale"),
        ("replicationcontrollers", "scale", "autoscaling/v1", "Scale"),
        ("daemonsets", "status", "apps/v1", "DaemonSet"),
        ("cronjobs", "status", "batch/v1", "CronJob"),
        ("jobs", "status", "batch/v1", "Job"),
        (
            "poddisruptionbudgets",
            "status",
            "policy/v1",
            "PodDisruptionBudget",
        ),
        (
            "customresourcedefinitions",
            "status",
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
        ),
    ];
    use k8s_openapi::api::autoscaling::v1::Scale;
    assert_eq!(
        (Scale::API_VERSION, Scale::KIND),
        ("autoscaling/v1", "Scale")
    );
    for (plural, name, api_version, kind) in want {
        let r = resolve(&table, plural).unwrap();
        let s = r
            .subresource(name)
            .unwrap_or_else(|| panic!("{plural}/{name} missing"));
        assert_eq!(
            (s.api_version().as_str(), s.kind.as_str()),
            (*api_version, *kind),
            "{plural}/{name}"
        );
    }
    assert!(resolve(&table, "daemonsets")
        .unwrap()
        .subresource("scale")
        .is_none());
    assert!(resolve(&table, "configmaps")
        .unwrap()
        .subresources
        .is_empty());
}

#[test]
fn scale_subresources_have_kubernetes_verbs() {
    let table = builtin_resources();
    let scale = resolve(&table, "deploy")
        .unwrap()
        .subresource("scale")
        .unwrap();
    assert_eq!(scale.verbs, ["get", "patch", "update"]);
    let binding = resolve(&table, "po")
        .unwrap()
        .subresource("binding")
        .unwrap();
    assert_eq!(binding.verbs, ["create"]);
    assert!(!resolve(&table, "ns").unwrap().supports("deletecollection"));
    assert!(resolve(&table, "cm").unwrap().supports("deletecollection"));
}

#[test]
fn short_names_are_unique_within_a_group_and_resolve_to_core_first() {
    let table = builtin_resources();
    let mut seen = BTreeSet::new();
    for r in &table {
        for s in &r.short_names {
            assert!(
                seen.insert((r.group.clone(), s.clone())),
                "duplicate short name {s}"
            );
        }
    }
    assert_eq!(find_by_short_name(&table, "ev").unwrap().group, "");
    let cases = [
        ("po", "pods"),
        ("svc", "services"),
        ("deploy", "deployments"),
        ("rs", "replicasets"),
        ("sts", "statefulsets"),
        ("ds", "daemonsets"),
        ("cj", "cronjobs"),
        ("pdb", "poddisruptionbudgets"),
        ("crd", "customresourcedefinitions"),
        ("crds", "customresourcedefinitions"),
        ("ns", "namespaces"),
        ("no", "nodes"),
        ("cm", "configmaps"),
        ("sa", "serviceaccounts"),
        ("pvc", "persistentvolumeclaims"),
        ("pv", "persistentvolumes"),
        ("quota", "resourcequotas"),
        ("limits", "limitranges"),
        ("ep", "endpoints"),
        ("rc", "replicationcontrollers"),
    ];
    for (short, plural) in cases {
        assert_eq!(
            find_by_short_name(&table, short).unwrap().plural,
            plural,
            "{short}"
        );
    }
}

#[test]
fn category_all_is_where_kubernetes_puts_it() {
    let table = builtin_resources();
    let all: BTreeSet<&str> = table
        .iter()
        .filter(|r| r.categories.iter().any(|c| c == "all"))
        .map(|r| r.plural.as_str())
        .collect();
    let want: BTreeSet<&str> = [
        "pods",
        "services",
        "replicationcontrollers",
        "deployments",
        "replicasets",
        "statefulsets",
        "daemonsets",
        "jobs",
        "cronjobs",
    ]
    .into();
    assert_eq!(all, want);
}

#[test]
fn resolve_accepts_what_kubectl_accepts() {
    let table = builtin_resources();
    let cases = [
        ("pods", Some(("", "pods"))),
        ("pod", Some(("", "pods"))),
        ("Pod", Some(("", "pods"))),
        ("deployments.apps", Some(("apps", "deployments"))),
        ("deploy.v1.apps", Some(("apps", "deployments"))),
        ("events.events.k8s.io", Some(("events.k8s.io", "events"))),
        ("events", Some(("", "events"))),
        (
            "leases.coordination.k8s.io",
            Some(("coordination.k8s.io", "leases")),
        ),
        ("pods.apps", None),
        ("nothing", None),
    ];
    for (name, want) in cases {
        let got = resolve(&table, name).map(|r| (r.group.as_str(), r.plural.as_str()));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn paths_and_qualified_names() {
    let table = builtin_resources();
    let pods = resolve(&table, "pods").unwrap();
    assert_eq!(
        pods.collection_path(Some("default")),
        "/api/v1/namespaces/default/pods"
    );
    assert_eq!(pods.collection_path(None), "/api/v1/pods");
    assert_eq!(
        pods.object_path(Some("ns"), "p"),
        "/api/v1/namespaces/ns/pods/p"
    );
    let nodes = resolve(&table, "nodes").unwrap();
    assert_eq!(nodes.object_path(Some("ignored"), "n1"), "/api/v1/nodes/n1");
    let deploy = resolve(&table, "deploy").unwrap();
    assert_eq!(
        deploy.collection_path(Some("a")),
        "/apis/apps/v1/namespaces/a/deployments"
    );
    assert_eq!(deploy.qualified_resource(), "deployments.apps");
    assert_eq!(deploy.qualified_kind(), "Deployment.apps");
    assert_eq!(pods.qualified_resource(), "pods");
    assert_eq!(deploy.gvr().to_string(), "apps/v1, Resource=deployments");
}
