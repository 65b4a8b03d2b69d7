//! Default constraints: what PodTopologySpread applies to a pod that sets no
//! `topologySpreadConstraints` of its own, as kube-scheduler's
//! `PodTopologySpreadArgs` (`defaultingType: System` by default, or `List` with
//! `defaultConstraints`).
//!
//! The system defaults spread a workload's pods over hostnames (maxSkew 3) and zones
//! (maxSkew 5), both `ScheduleAnyway`. A default constraint counts the pods of the
//! incoming pod's workloads: the selector of the Services matching it and of its
//! controlling ReplicationController, ReplicaSet or StatefulSet
//! ([`Workloads::default_selector`](crate::cache::Workloads::default_selector)). A
//! pod that belongs to none gets no default constraints.
//!
//! ```
//! use skiff_sched::plugins::pod_topology_spread::{PodTopologySpread, Action};
//! let p = PodTopologySpread::from_args(&serde_json::json!({
//!     "defaultingType": "List",
//!     "defaultConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
//!         "whenUnsatisfiable": "DoNotSchedule"}]})).unwrap();
//! assert_eq!(p.default_constraints()[0].action, Action::DoNotSchedule);
//! assert_eq!(PodTopologySpread::default().default_constraints().len(), 2);
//! ```

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use super::{constraints, Action, PodTopologySpread, SpreadConstraint, LABEL_HOSTNAME, NAME};
use crate::cache::Snapshot;
use crate::framework::RegistryError;

/// The zone label.
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";

/// A constraint applied to pods without their own (`defaultConstraints[*]`; its
/// selector comes from the pod's workloads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultConstraint {
    /// `maxSkew`.
    pub max_skew: i64,
    /// `topologyKey`.
    pub topology_key: String,
    /// `whenUnsatisfiable`.
    pub action: Action,
}

/// kube-scheduler's system default constraints: hostname maxSkew 3 and zone maxSkew
/// 5, both `ScheduleAnyway`.
pub fn system_default_constraints() -> Vec<DefaultConstraint> {
    vec![
        DefaultConstraint {
            max_skew: 3,
            topology_key: LABEL_HOSTNAME.to_owned(),
            action: Action::ScheduleAnyway,
        },
        DefaultConstraint {
            max_skew: 5,
            topology_key: LABEL_ZONE.to_owned(),
            action: Action::ScheduleAnyway,
        },
    ]
}

impl Default for PodTopologySpread {
    /// `defaultingType: System`.
    fn default() -> Self {
        PodTopologySpread {
            defaults: system_default_constraints(),
            system_defaulted: true,
        }
    }
}

fn bad_args(message: impl Into<String>) -> RegistryError {
    RegistryError::InvalidArgs {
        plugin: NAME.to_owned(),
        message: message.into(),
    }
}

fn parse_default(i: usize, c: &Value) -> Result<DefaultConstraint, RegistryError> {
    let at = |f: &str| format!("defaultConstraints[{i}].{f}");
    if c.get("labelSelector").is_some_and(|s| !s.is_null()) {
        return Err(bad_args(format!(
            "{}: Forbidden: constraint must not define a selector, as they deduced for each pod",
            at("labelSelector")
        )));
    }
    let max_skew = c
        .get("maxSkew")
        .and_then(Value::as_i64)
        .filter(|s| *s > 0)
        .ok_or_else(|| bad_args(format!("{}: must be greater than zero", at("maxSkew"))))?;
    let topology_key = c
        .get("topologyKey")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| bad_args(format!("{}: Required value", at("topologyKey"))))?
        .to_owned();
    let action = match c.get("whenUnsatisfiable").and_then(Value::as_str) {
        Some("DoNotSchedule") => Action::DoNotSchedule,
        Some("ScheduleAnyway") => Action::ScheduleAnyway,
        other => {
            return Err(bad_args(format!(
                "{}: Unsupported value: {other:?}: supported values: \"DoNotSchedule\", \"ScheduleAnyway\"",
                at("whenUnsatisfiable")
            )))
        }
    };
    Ok(DefaultConstraint {
        max_skew,
        topology_key,
        action,
    })
}

impl PodTopologySpread {
    /// The plugin with these default constraints (`defaultingType: List`).
    pub fn with_default_constraints(defaults: Vec<DefaultConstraint>) -> Self {
        PodTopologySpread {
            defaults,
            system_defaulted: false,
        }
    }

    /// The plugin from its `PodTopologySpreadArgs` (`null` or `{}`: the system
    /// defaults). Refused as kube-scheduler's validation does: constraints given with
    /// `defaultingType: System`, a selector in a default constraint, a
    /// non-positive maxSkew, an empty topologyKey, a bad whenUnsatisfiable, two
    /// constraints with the same key and action.
    pub fn from_args(args: &Value) -> Result<Self, RegistryError> {
        if args.is_null() {
            return Ok(Self::default());
        }
        let obj = args
            .as_object()
            .ok_or_else(|| bad_args("arguments must be an object"))?;
        let listed = match obj.get("defaultConstraints") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list
                .iter()
                .enumerate()
                .map(|(i, c)| parse_default(i, c))
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(bad_args("defaultConstraints must be a list")),
        };
        for (i, c) in listed.iter().enumerate() {
            if listed[..i]
                .iter()
                .any(|d| d.topology_key == c.topology_key && d.action == c.action)
            {
                return Err(bad_args(format!(
                    "defaultConstraints[{i}]: Duplicate value: {{{:?}, {:?}}}",
                    c.topology_key,
                    c.action.as_str()
                )));
            }
        }
        match obj.get("defaultingType").and_then(Value::as_str) {
            None | Some("System") => {
                if !listed.is_empty() {
                    return Err(bad_args(
                        "defaultConstraints: Invalid value: when .defaultingType is \"System\", .defaultConstraints must be empty",
                    ));
                }
                Ok(Self::default())
            }
            Some("List") => Ok(Self::with_default_constraints(listed)),
            Some(other) => Err(bad_args(format!(
                "defaultingType: Unsupported value: {other:?}: supported values: \"List\", \"System\""
            ))),
        }
    }

    /// The constraints applied to pods without their own.
    pub fn default_constraints(&self) -> &[DefaultConstraint] {
        &self.defaults
    }

    /// The constraints of `pod` with `whenUnsatisfiable == action`: its own, or, when
    /// it sets none, the default ones with its workloads' selector (none when it
    /// belongs to no workload). The flag says whether the defaults were used.
    pub fn pod_constraints(
        &self,
        pod: &Pod,
        action: Action,
        snapshot: &Snapshot,
    ) -> Result<(Vec<SpreadConstraint>, bool), String> {
        let own = pod
            .spec
            .as_ref()
            .and_then(|s| s.topology_spread_constraints.as_ref())
            .is_some_and(|c| !c.is_empty());
        if own {
            return Ok((constraints(pod, action)?, false));
        }
        if !self.defaults.iter().any(|d| d.action == action) {
            return Ok((Vec::new(), true));
        }
        let selector = snapshot.workloads().default_selector(pod);
        if selector.is_everything() {
            return Ok((Vec::new(), true));
        }
        let out = self
            .defaults
            .iter()
            .filter(|d| d.action == action)
            .map(|d| SpreadConstraint {
                max_skew: d.max_skew,
                topology_key: d.topology_key.clone(),
                selector: selector.clone(),
                min_domains: 1,
                honor_node_affinity: true,
                honor_node_taints: false,
            })
            .collect();
        Ok((out, true))
    }

    /// Whether nodes lacking a constraint's topology key are left out of scoring
    /// (kube-scheduler's `requireAllTopologies`: always, except for the system
    /// defaults).
    pub(super) fn require_all_topologies(&self, defaulted: bool) -> bool {
        !defaulted || !self.system_defaulted
    }
}
