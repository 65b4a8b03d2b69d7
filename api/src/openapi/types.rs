//! The k8s-openapi types behind each built-in kind, for schema generation.

use k8s_openapi::Resource;
use schemars::{JsonSchema, Schema, SchemaGenerator};

/// A kind with a k8s-openapi type: its group, version, kind, schema name, and how to
/// add its schema (and everything it references) to a generator.
pub struct TypedKind {
    /// API group (empty for core).
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Name of its schema in `components.schemas` (`io.k8s.api.core.v1.Pod`).
    pub schema_name: String,
    /// Adds the schema to a generator and returns the reference to it.
    pub add: fn(&mut SchemaGenerator) -> Schema,
}

fn typed<T: Resource + JsonSchema>() -> TypedKind {
    TypedKind {
        group: T::GROUP,
        version: T::VERSION,
        kind: T::KIND,
        schema_name: T::schema_name().into_owned(),
        add: |generator| generator.subschema_for::<T>(),
    }
}

/// Every kind Skiff serves (and the subresource kinds) that has a k8s-openapi type.
pub fn typed_kinds() -> Vec<TypedKind> {
    use k8s_openapi::api::{
        apps, autoscaling, batch, coordination, core, discovery, events, policy, scheduling,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
    vec![
        typed::<core::v1::Namespace>(),
        typed::<core::v1::Pod>(),
        typed::<core::v1::Node>(),
        typed::<core::v1::Service>(),
        typed::<core::v1::Endpoints>(),
        typed::<core::v1::ConfigMap>(),
        typed::<core::v1::Secret>(),
        typed::<core::v1::ServiceAccount>(),
        typed::<core::v1::Event>(),
        typed::<core::v1::PersistentVolumeClaim>(),
        typed::<core::v1::PersistentVolume>(),
        typed::<core::v1::ResourceQuota>(),
        typed::<core::v1::LimitRange>(),
        typed::<core::v1::ReplicationController>(),
        typed::<core::v1::Binding>(),
        typed::<apps::v1::Deployment>(),
        typed::<apps::v1::ReplicaSet>(),
        typed::<apps::v1::StatefulSet>(),
        typed::<apps::v1::DaemonSet>(),
        typed::<apps::v1::ControllerRevision>(),
        typed::<batch::v1::Job>(),
        typed::<batch::v1::CronJob>(),
        typed::<coordination::v1::Lease>(),
        typed::<discovery::v1::EndpointSlice>(),
        typed::<events::v1::Event>(),
        typed::<policy::v1::PodDisruptionBudget>(),
        typed::<policy::v1::Eviction>(),
        typed::<scheduling::v1::PriorityClass>(),
        typed::<autoscaling::v1::Scale>(),
        typed::<autoscaling::v1::HorizontalPodAutoscaler>(),
        typed::<apiextensions::v1::CustomResourceDefinition>(),
    ]
}
