//! The informer handlers of the workloads PodTopologySpread's default constraints
//! count by: Services, ReplicationControllers, ReplicaSets and StatefulSets go to the
//! cache's [`Workloads`](crate::cache::Workloads), reduced to their selectors.

use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{ReplicationController, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::Scheduler;
use crate::cache::{ControllerKind, Workloads};
use crate::informer::InformerEvent;

fn key(meta: &ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// One workload kind: how it is recorded and forgotten.
pub(crate) trait WorkloadKind: Sized {
    fn meta(&self) -> &ObjectMeta;
    fn set(&self, w: &mut Workloads);
    fn remove(w: &mut Workloads, namespace: &str, name: &str);
    fn known(w: &Workloads) -> Vec<(String, String)>;
}

impl WorkloadKind for Service {
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn set(&self, w: &mut Workloads) {
        w.set_service(self);
    }
    fn remove(w: &mut Workloads, namespace: &str, name: &str) {
        w.remove_service(namespace, name);
    }
    fn known(w: &Workloads) -> Vec<(String, String)> {
        w.service_names()
    }
}

macro_rules! controller_kind {
    ($ty:ty, $kind:expr, $set:ident) => {
        impl WorkloadKind for $ty {
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn set(&self, w: &mut Workloads) {
                w.$set(self);
            }
            fn remove(w: &mut Workloads, namespace: &str, name: &str) {
                w.remove_controller($kind, namespace, name);
            }
            fn known(w: &Workloads) -> Vec<(String, String)> {
                w.controller_names($kind)
            }
        }
    };
}

controller_kind!(
    ReplicationController,
    ControllerKind::ReplicationController,
    set_replication_controller
);
controller_kind!(ReplicaSet, ControllerKind::ReplicaSet, set_replica_set);
controller_kind!(StatefulSet, ControllerKind::StatefulSet, set_stateful_set);

impl Scheduler {
    /// Handles an informer event of a Service, ReplicationController, ReplicaSet or
    /// StatefulSet.
    pub(crate) fn on_workload_event<K: WorkloadKind>(&self, event: InformerEvent<K>) {
        let mut cache = self.shared.cache();
        let w = cache.workloads_mut();
        match event {
            InformerEvent::Applied(o) => o.set(w),
            InformerEvent::Deleted(o) => {
                let (ns, name) = key(o.meta());
                K::remove(w, &ns, &name);
            }
            InformerEvent::Relisted(all) => {
                for (ns, name) in K::known(w) {
                    K::remove(w, &ns, &name);
                }
                for o in &all {
                    o.set(w);
                }
            }
        }
    }
}
