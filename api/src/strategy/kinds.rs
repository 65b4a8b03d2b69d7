//! The per-kind data of the generic strategy: one [`KindRules`] per built-in kind that
//! differs from the default, found by [`rules_for`].

use k8s_openapi::api::{
    apps, batch, coordination, core::v1 as core, discovery, policy, scheduling,
};
use serde_json::{json, Value};
use skiff_core::status::StatusCause;

use super::defaults;
use super::priority_class;
use super::validation::{self, typed, NameRule, TypedCheck};

/// What distinguishes one kind from another in the registry.
#[derive(Debug)]
pub struct KindRules {
    /// Field-selector labels beyond `metadata.name`/`metadata.namespace`, each with the
    /// JSON pointer it reads.
    pub field_labels: &'static [(&'static str, &'static str)],
    /// Decodes the object into its k8s-openapi type to check its shape.
    pub typed_check: Option<TypedCheck>,
    /// Fills defaulted fields.
    pub defaults: Option<fn(&mut Value)>,
    /// The status a new object starts with (replacing any the client sent).
    pub initial_status: Option<fn() -> Value>,
    /// JSON pointers of fields that may not change once set (`/spec/selector`).
    pub immutable: &'static [&'static str],
    /// Further checks of an update against the stored object.
    pub update_check: Option<fn(&Value, &Value) -> Vec<StatusCause>>,
    /// Further checks of an object (required fields the types leave optional, ...).
    pub extra_validation: Option<fn(&Value) -> Vec<StatusCause>>,
    /// How the object's name is validated.
    pub name_rule: NameRule,
}

impl KindRules {
    /// Rules with nothing kind-specific: names are DNS-1123 subdomains.
    pub const DEFAULT: KindRules = KindRules {
        field_labels: &[],
        typed_check: None,
        defaults: None,
        initial_status: None,
        immutable: &[],
        update_check: None,
        extra_validation: None,
        name_rule: NameRule::Subdomain,
    };
}

static DEFAULT: KindRules = KindRules::DEFAULT;

static POD: KindRules = KindRules {
    field_labels: &[
        ("spec.nodeName", "/spec/nodeName"),
        ("spec.restartPolicy", "/spec/restartPolicy"),
        ("spec.schedulerName", "/spec/schedulerName"),
        ("spec.serviceAccountName", "/spec/serviceAccountName"),
        ("spec.hostNetwork", "/spec/hostNetwork"),
        ("status.phase", "/status/phase"),
        ("status.podIP", "/status/podIP"),
        ("status.nominatedNodeName", "/status/nominatedNodeName"),
    ],
    typed_check: Some(typed::<core::Pod>),
    defaults: Some(defaults::pod),
    initial_status: Some(|| json!({"phase": "Pending"})),
    update_check: Some(validation::pod_spec_update),
    extra_validation: Some(validation::pod_extra),
    ..KindRules::DEFAULT
};

static NAMESPACE: KindRules = KindRules {
    field_labels: &[("status.phase", "/status/phase")],
    typed_check: Some(typed::<core::Namespace>),
    defaults: Some(defaults::namespace),
    initial_status: Some(|| json!({"phase": "Active"})),
    name_rule: NameRule::Label,
    ..KindRules::DEFAULT
};

static NODE: KindRules = KindRules {
    field_labels: &[("spec.unschedulable", "/spec/unschedulable")],
    typed_check: Some(typed::<core::Node>),
    ..KindRules::DEFAULT
};

static SERVICE: KindRules = KindRules {
    typed_check: Some(typed::<core::Service>),
    defaults: Some(defaults::service),
    name_rule: NameRule::Label,
    update_check: Some(validation::service_update),
    ..KindRules::DEFAULT
};

static SECRET: KindRules = KindRules {
    field_labels: &[("type", "/type")],
    typed_check: Some(typed::<core::Secret>),
    defaults: Some(defaults::secret),
    immutable: &["/type"],
    update_check: Some(validation::immutable_data),
    ..KindRules::DEFAULT
};

static CONFIG_MAP: KindRules = KindRules {
    typed_check: Some(typed::<core::ConfigMap>),
    update_check: Some(validation::immutable_data),
    ..KindRules::DEFAULT
};

static EVENT: KindRules = KindRules {
    field_labels: &[
        ("involvedObject.kind", "/involvedObject/kind"),
        ("involvedObject.namespace", "/involvedObject/namespace"),
        ("involvedObject.name", "/involvedObject/name"),
        ("involvedObject.uid", "/involvedObject/uid"),
        ("involvedObject.apiVersion", "/involvedObject/apiVersion"),
        (
            "involvedObject.resourceVersion",
            "/involvedObject/resourceVersion",
        ),
        ("involvedObject.fieldPath", "/involvedObject/fieldPath"),
        ("reason", "/reason"),
        ("reportingComponent", "/reportingComponent"),
        ("source", "/source/component"),
        ("type", "/type"),
    ],
    typed_check: Some(typed::<core::Event>),
    ..KindRules::DEFAULT
};

static EVENTS_K8S_IO: KindRules = KindRules {
    field_labels: &[
        ("regarding.kind", "/regarding/kind"),
        ("regarding.namespace", "/regarding/namespace"),
        ("regarding.name", "/regarding/name"),
        ("regarding.uid", "/regarding/uid"),
        ("reason", "/reason"),
        ("reportingController", "/reportingController"),
        ("type", "/type"),
    ],
    typed_check: Some(typed::<k8s_openapi::api::events::v1::Event>),
    ..KindRules::DEFAULT
};

static SIMPLE_CORE: [(&str, KindRules); 8] = [
    (
        "Endpoints",
        KindRules {
            typed_check: Some(typed::<core::Endpoints>),
            ..KindRules::DEFAULT
        },
    ),
    (
        "ServiceAccount",
        KindRules {
            typed_check: Some(typed::<core::ServiceAccount>),
            ..KindRules::DEFAULT
        },
    ),
    (
        "PersistentVolumeClaim",
        KindRules {
            typed_check: Some(typed::<core::PersistentVolumeClaim>),
            immutable: &[
                "/spec/accessModes",
                "/spec/storageClassName",
                "/spec/volumeMode",
            ],
            ..KindRules::DEFAULT
        },
    ),
    (
        "PersistentVolume",
        KindRules {
            typed_check: Some(typed::<core::PersistentVolume>),
            ..KindRules::DEFAULT
        },
    ),
    (
        "ResourceQuota",
        KindRules {
            typed_check: Some(typed::<core::ResourceQuota>),
            ..KindRules::DEFAULT
        },
    ),
    (
        "LimitRange",
        KindRules {
            typed_check: Some(typed::<core::LimitRange>),
            ..KindRules::DEFAULT
        },
    ),
    (
        "ReplicationController",
        KindRules {
            field_labels: &[("status.replicas", "/status/replicas")],
            typed_check: Some(typed::<core::ReplicationController>),
            ..KindRules::DEFAULT
        },
    ),
    (
        "Binding",
        KindRules {
            typed_check: Some(typed::<core::Binding>),
            ..KindRules::DEFAULT
        },
    ),
];

static DEPLOYMENT: KindRules = KindRules {
    typed_check: Some(typed::<apps::v1::Deployment>),
    defaults: Some(defaults::deployment),
    immutable: &["/spec/selector"],
    extra_validation: Some(validation::selector_matches_template),
    ..KindRules::DEFAULT
};

static REPLICA_SET: KindRules = KindRules {
    field_labels: &[("status.replicas", "/status/replicas")],
    typed_check: Some(typed::<apps::v1::ReplicaSet>),
    defaults: Some(defaults::replica_set),
    immutable: &["/spec/selector"],
    extra_validation: Some(validation::selector_matches_template),
    ..KindRules::DEFAULT
};

static STATEFUL_SET: KindRules = KindRules {
    typed_check: Some(typed::<apps::v1::StatefulSet>),
    defaults: Some(defaults::stateful_set),
    immutable: &[
        "/spec/selector",
        "/spec/serviceName",
        "/spec/volumeClaimTemplates",
    ],
    extra_validation: Some(validation::selector_matches_template),
    ..KindRules::DEFAULT
};

static DAEMON_SET: KindRules = KindRules {
    typed_check: Some(typed::<apps::v1::DaemonSet>),
    defaults: Some(defaults::daemon_set),
    immutable: &["/spec/selector"],
    extra_validation: Some(validation::selector_matches_template),
    ..KindRules::DEFAULT
};

static CONTROLLER_REVISION: KindRules = KindRules {
    typed_check: Some(typed::<apps::v1::ControllerRevision>),
    immutable: &["/data"],
    ..KindRules::DEFAULT
};

static JOB: KindRules = KindRules {
    field_labels: &[("status.successful", "/status/succeeded")],
    typed_check: Some(typed::<batch::v1::Job>),
    defaults: Some(defaults::job),
    immutable: &["/spec/selector", "/spec/template", "/spec/completions"],
    ..KindRules::DEFAULT
};

static CRON_JOB: KindRules = KindRules {
    typed_check: Some(typed::<batch::v1::CronJob>),
    defaults: Some(defaults::cron_job),
    ..KindRules::DEFAULT
};

static LEASE: KindRules = KindRules {
    typed_check: Some(typed::<coordination::v1::Lease>),
    ..KindRules::DEFAULT
};

static ENDPOINT_SLICE: KindRules = KindRules {
    typed_check: Some(typed::<discovery::v1::EndpointSlice>),
    immutable: &["/addressType"],
    ..KindRules::DEFAULT
};

static PRIORITY_CLASS: KindRules = KindRules {
    typed_check: Some(typed::<scheduling::v1::PriorityClass>),
    defaults: Some(priority_class::defaults),
    immutable: &["/preemptionPolicy"],
    update_check: Some(priority_class::validate_update),
    extra_validation: Some(priority_class::validate),
    ..KindRules::DEFAULT
};

static PDB: KindRules = KindRules {
    typed_check: Some(typed::<policy::v1::PodDisruptionBudget>),
    ..KindRules::DEFAULT
};

/// The rules of a kind by group and kind; [`KindRules::DEFAULT`] for kinds with none
/// (custom resources).
pub fn rules_for(group: &str, kind: &str) -> &'static KindRules {
    match (group, kind) {
        ("", "Pod") => &POD,
        ("", "Namespace") => &NAMESPACE,
        ("", "Node") => &NODE,
        ("", "Service") => &SERVICE,
        ("", "Secret") => &SECRET,
        ("", "ConfigMap") => &CONFIG_MAP,
        ("", "Event") => &EVENT,
        ("events.k8s.io", "Event") => &EVENTS_K8S_IO,
        ("", other) => SIMPLE_CORE
            .iter()
            .find(|(k, _)| *k == other)
            .map(|(_, r)| r)
            .unwrap_or(&DEFAULT),
        ("apps", "Deployment") => &DEPLOYMENT,
        ("apps", "ReplicaSet") => &REPLICA_SET,
        ("apps", "StatefulSet") => &STATEFUL_SET,
        ("apps", "DaemonSet") => &DAEMON_SET,
        ("apps", "ControllerRevision") => &CONTROLLER_REVISION,
        ("batch", "Job") => &JOB,
        ("batch", "CronJob") => &CRON_JOB,
        ("coordination.k8s.io", "Lease") => &LEASE,
        ("discovery.k8s.io", "EndpointSlice") => &ENDPOINT_SLICE,
        ("policy", "PodDisruptionBudget") => &PDB,
        ("scheduling.k8s.io", "PriorityClass") => &PRIORITY_CLASS,
        _ => &DEFAULT,
    }
}
