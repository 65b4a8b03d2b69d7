//! The informers' event handlers: nodes and bound pods go to the cache, pending pods
//! of this scheduler's profiles to the queue, and changes that may free room move
//! unschedulable pods back.

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};

use super::Scheduler;
use crate::framework::ClusterEvent;
use crate::informer::InformerEvent;
use crate::pod::{is_deleting, is_terminal, node_name, pod_key, scheduler_name};
use crate::queue::QueuedPodInfo;

impl Scheduler {
    fn move_on(&self, event: ClusterEvent) {
        let frameworks = &self.shared.frameworks;
        let may_help = |info: &QueuedPodInfo, ev: ClusterEvent| {
            frameworks
                .get(scheduler_name(&info.pod))
                .is_none_or(|fw| fw.event_may_help(&info.unschedulable_plugins, ev))
        };
        self.shared.queue.move_all_on_event(event, &may_help);
    }

    /// Handles a node informer event.
    pub fn on_node_event(&self, event: InformerEvent<Node>) {
        match event {
            InformerEvent::Applied(node) => {
                let name = node.metadata.name.clone().unwrap_or_default();
                let known = self
                    .shared
                    .cache()
                    .node(&name)
                    .is_some_and(|n| n.node().is_some());
                self.shared.cache().add_node(node);
                self.move_on(if known {
                    ClusterEvent::NodeUpdate
                } else {
                    ClusterEvent::NodeAdd
                });
            }
            InformerEvent::Deleted(node) => {
                if let Some(name) = node.metadata.name.as_deref() {
                    self.shared.cache().remove_node(name);
                }
            }
            InformerEvent::Relisted(nodes) => {
                let names: HashSet<String> = nodes
                    .iter()
                    .filter_map(|n| n.metadata.name.clone())
                    .collect();
                {
                    let mut cache = self.shared.cache();
                    for gone in cache
                        .node_names()
                        .into_iter()
                        .filter(|n| !names.contains(n))
                    {
                        cache.remove_node(&gone);
                    }
                    for n in nodes {
                        cache.add_node(n);
                    }
                }
                self.move_on(ClusterEvent::NodeAdd);
            }
        }
    }

    /// Handles a namespace informer event (namespace labels feed the namespace
    /// selectors of pod affinity terms).
    pub fn on_namespace_event(&self, event: InformerEvent<Namespace>) {
        let labels = |ns: &Namespace| ns.metadata.labels.clone().unwrap_or_default();
        match event {
            InformerEvent::Applied(ns) => {
                if let Some(name) = ns.metadata.name.as_deref() {
                    self.shared.cache().set_namespace(name, labels(&ns));
                }
            }
            InformerEvent::Deleted(ns) => {
                if let Some(name) = ns.metadata.name.as_deref() {
                    self.shared.cache().remove_namespace(name);
                }
            }
            InformerEvent::Relisted(all) => {
                let mut cache = self.shared.cache();
                let names: HashSet<String> =
                    all.iter().filter_map(|n| n.metadata.name.clone()).collect();
                for gone in cache
                    .namespace_names()
                    .into_iter()
                    .filter(|n| !names.contains(n))
                {
                    cache.remove_namespace(&gone);
                }
                for ns in &all {
                    if let Some(name) = ns.metadata.name.as_deref() {
                        cache.set_namespace(name, labels(ns));
                    }
                }
            }
        }
    }

    /// Handles a pod informer event.
    pub fn on_pod_event(&self, event: InformerEvent<Pod>) {
        match event {
            InformerEvent::Applied(pod) => self.apply_pod(pod),
            InformerEvent::Deleted(pod) => self.delete_pod(&pod_key(&pod)),
            InformerEvent::Relisted(pods) => {
                let keys: HashSet<String> = pods.iter().map(pod_key).collect();
                let stale: Vec<String> = {
                    let cache = self.shared.cache();
                    cache
                        .pod_keys()
                        .into_iter()
                        .filter(|k| !keys.contains(k) && !cache.is_assumed(k))
                        .collect()
                };
                for k in stale {
                    self.delete_pod(&k);
                }
                for p in pods {
                    self.apply_pod(p);
                }
            }
        }
    }

    fn apply_pod(&self, pod: Pod) {
        let key = pod_key(&pod);
        if is_terminal(&pod) {
            self.delete_pod(&key);
            return;
        }
        if node_name(&pod).is_some() {
            let known = self.shared.cache().contains_pod(&key);
            self.shared.queue.delete(&key);
            self.shared.nominated().remove(&key);
            self.shared.cache().add_pod(pod);
            self.move_on(if known {
                ClusterEvent::AssignedPodUpdate
            } else {
                ClusterEvent::AssignedPodAdd
            });
            return;
        }
        if !self.shared.frameworks.contains_key(scheduler_name(&pod)) || is_deleting(&pod) {
            return;
        }
        if self.shared.cache().is_assumed(&key) {
            // Being bound; the informer has not seen the binding yet.
            return;
        }
        self.shared.queue.add(Arc::new(pod));
    }

    fn delete_pod(&self, key: &str) {
        self.shared.queue.delete(key);
        self.shared.nominated().remove(key);
        self.shared.waiting_pods.reject(key, "", "pod was deleted");
        let was_counted = {
            let mut cache = self.shared.cache();
            let had = cache.contains_pod(key) && !cache.is_assumed(key);
            cache.remove_pod(key);
            had
        };
        if was_counted {
            self.move_on(ClusterEvent::AssignedPodDelete);
        }
    }
}
