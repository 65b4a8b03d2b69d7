//! The patch metadata of the built-in kinds: for each field of each type, the type of
//! its value and how its list merges (Kubernetes' `patchStrategy` and `patchMergeKey`
//! struct tags). Fields not listed are plain: maps merge key by key, lists are
//! replaced whole.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::resource::builtin_resources;

/// How a list field is patched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListMerge {
    /// The patch's list replaces the live one (no patch strategy).
    Replace,
    /// A list of objects merged item by item, matching items by this key
    /// (`patchStrategy:"merge"`, `patchMergeKey`).
    ByKey(&'static str),
    /// A list of scalars merged as a set (`patchStrategy:"merge"` on scalars, such as
    /// `metadata.finalizers`).
    Primitives,
}

/// What a schema knows of one field: the type of its value (to look up the fields
/// below it) and how it merges if it is a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldPatch {
    /// Name of the value's type in the schema (for a list: of its items); `None` when
    /// the schema knows nothing below this field.
    pub type_name: Option<&'static str>,
    /// How the field merges when it is a list.
    pub list: ListMerge,
}

impl FieldPatch {
    /// A field the schema knows nothing about: maps merge, lists are replaced.
    pub const UNKNOWN: FieldPatch = FieldPatch {
        type_name: None,
        list: ListMerge::Replace,
    };
}

/// Patch metadata by type and field, as the strategic merge patch needs it.
pub trait PatchSchema {
    /// The metadata of `field` in type `type_name`; [`FieldPatch::UNKNOWN`] if none.
    fn field(&self, type_name: &str, field: &str) -> FieldPatch;
}

/// The schema of the built-in kinds; see [`builtin_schema`].
pub struct BuiltinSchema {
    fields: HashMap<(&'static str, &'static str), FieldPatch>,
    roots: HashMap<(String, String), &'static str>,
}

impl BuiltinSchema {
    /// The root type of a built-in kind (by API group and kind), if it is one.
    pub fn root(&self, group: &str, kind: &str) -> Option<&'static str> {
        self.roots
            .get(&(group.to_owned(), kind.to_owned()))
            .copied()
    }
}

impl PatchSchema for BuiltinSchema {
    fn field(&self, type_name: &str, field: &str) -> FieldPatch {
        self.fields
            .get(&(type_name, field))
            .copied()
            .unwrap_or(FieldPatch::UNKNOWN)
    }
}

use ListMerge::{ByKey, Primitives, Replace};

/// (type, field, type of the value, list strategy). Types named `<Kind>` get
/// `metadata`, `spec` and `status` fields of types `ObjectMeta`, `<Kind>Spec` and
/// `<Kind>Status` automatically.
const FIELDS: &[(&str, &str, &str, ListMerge)] = &[
    // meta/v1
    ("ObjectMeta", "finalizers", "", Primitives),
    ("ObjectMeta", "ownerReferences", "", ByKey("uid")),
    // Pods and pod templates
    ("PodTemplateSpec", "metadata", "ObjectMeta", Replace),
    ("PodTemplateSpec", "spec", "PodSpec", Replace),
    ("PodSpec", "containers", "Container", ByKey("name")),
    ("PodSpec", "initContainers", "Container", ByKey("name")),
    ("PodSpec", "ephemeralContainers", "Container", ByKey("name")),
    ("PodSpec", "volumes", "Volume", ByKey("name")),
    ("PodSpec", "imagePullSecrets", "", ByKey("name")),
    ("PodSpec", "hostAliases", "", ByKey("ip")),
    (
        "PodSpec",
        "topologySpreadConstraints",
        "",
        ByKey("topologyKey"),
    ),
    ("PodSpec", "resourceClaims", "", ByKey("name")),
    ("PodSpec", "schedulingGates", "", ByKey("name")),
    ("Container", "ports", "", ByKey("containerPort")),
    ("Container", "env", "", ByKey("name")),
    ("Container", "volumeMounts", "", ByKey("mountPath")),
    ("Container", "volumeDevices", "", ByKey("devicePath")),
    ("PodStatus", "conditions", "", ByKey("type")),
    ("PodStatus", "podIPs", "", ByKey("ip")),
    ("PodStatus", "hostIPs", "", ByKey("ip")),
    ("PodStatus", "resourceClaimStatuses", "", ByKey("name")),
    // Workloads
    (
        "ReplicationControllerSpec",
        "template",
        "PodTemplateSpec",
        Replace,
    ),
    (
        "ReplicationControllerStatus",
        "conditions",
        "",
        ByKey("type"),
    ),
    ("DeploymentSpec", "template", "PodTemplateSpec", Replace),
    ("DeploymentStatus", "conditions", "", ByKey("type")),
    ("ReplicaSetSpec", "template", "PodTemplateSpec", Replace),
    ("ReplicaSetStatus", "conditions", "", ByKey("type")),
    ("StatefulSetSpec", "template", "PodTemplateSpec", Replace),
    ("StatefulSetStatus", "conditions", "", ByKey("type")),
    ("DaemonSetSpec", "template", "PodTemplateSpec", Replace),
    ("DaemonSetStatus", "conditions", "", ByKey("type")),
    ("JobSpec", "template", "PodTemplateSpec", Replace),
    ("JobStatus", "conditions", "", ByKey("type")),
    ("CronJobSpec", "jobTemplate", "JobTemplateSpec", Replace),
    ("JobTemplateSpec", "metadata", "ObjectMeta", Replace),
    ("JobTemplateSpec", "spec", "JobSpec", Replace),
    // Cluster objects
    ("NodeSpec", "podCIDRs", "", Primitives),
    ("NodeStatus", "conditions", "", ByKey("type")),
    ("NodeStatus", "addresses", "", ByKey("type")),
    ("ServiceSpec", "ports", "", ByKey("port")),
    ("ServiceStatus", "conditions", "", ByKey("type")),
    ("NamespaceStatus", "conditions", "", ByKey("type")),
    (
        "PersistentVolumeClaimStatus",
        "conditions",
        "",
        ByKey("type"),
    ),
    ("ServiceAccount", "secrets", "", ByKey("name")),
    ("PodDisruptionBudgetStatus", "conditions", "", ByKey("type")),
];

/// Leaks a string built once for the process-wide schema (a few dozen type names).
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn build() -> BuiltinSchema {
    let mut fields = HashMap::new();
    let mut roots = HashMap::new();
    let kinds = builtin_resources()
        .into_iter()
        .map(|r| (r.group, r.kind))
        .chain([("autoscaling".to_owned(), "Scale".to_owned())]);
    for (group, kind) in kinds {
        let root = leak(kind.clone());
        for (field, type_name) in [
            ("metadata", "ObjectMeta".to_owned()),
            ("spec", format!("{kind}Spec")),
            ("status", format!("{kind}Status")),
        ] {
            fields.entry((root, field)).or_insert(FieldPatch {
                type_name: Some(leak(type_name)),
                list: Replace,
            });
        }
        roots.insert((group, kind), root);
    }
    for &(type_name, field, value_type, list) in FIELDS {
        let value_type = (!value_type.is_empty()).then_some(value_type);
        fields.insert(
            (type_name, field),
            FieldPatch {
                type_name: value_type,
                list,
            },
        );
    }
    BuiltinSchema { fields, roots }
}

/// The process-wide schema of the built-in kinds.
pub fn builtin_schema() -> &'static BuiltinSchema {
    static SCHEMA: OnceLock<BuiltinSchema> = OnceLock::new();
    SCHEMA.get_or_init(build)
}
