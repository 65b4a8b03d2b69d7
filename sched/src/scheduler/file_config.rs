//! Reading a `KubeSchedulerConfiguration` (`kubescheduler.config.k8s.io/v1`, given as
//! JSON, or YAML with [`KubeSchedulerConfiguration::from_yaml`]) into a
//! [`SchedulerConfig`] plus the leader-election settings, as `kube-scheduler
//! --config` does.
//!
//! Supported: `parallelism`, `percentageOfNodesToScore`,
//! `podInitialBackoffSeconds`, `podMaxBackoffSeconds`, `leaderElection`
//! (`leaderElect`, `leaseDuration`, `renewDeadline`, `retryPeriod` as Go durations
//! such as `15s`), and `profiles` with `schedulerName`, `percentageOfNodesToScore`,
//! `plugins` (per extension point or `multiPoint`, `enabled` with weights and
//! `disabled`, `*` disabling every default) and `pluginConfig` (arguments by plugin
//! name). Unknown plugins are refused when the scheduler is built.
//!
//! ```
//! use skiff_sched::scheduler::KubeSchedulerConfiguration;
//! let c = KubeSchedulerConfiguration::from_value(&serde_json::json!({
//!     "apiVersion": "kubescheduler.config.k8s.io/v1",
//!     "kind": "KubeSchedulerConfiguration",
//!     "leaderElection": {"leaderElect": true, "leaseDuration": "20s"},
//!     "profiles": [
//!         {"schedulerName": "default-scheduler"},
//!         {"schedulerName": "no-images", "plugins": {"score": {"disabled": [{"name": "ImageLocality"}]}}}
//!     ]
//! }), skiff_sched::plugins::default_registry()).unwrap();
//! assert_eq!(c.scheduler.profiles.len(), 2);
//! assert_eq!(c.leader_election.unwrap().lease_duration.as_secs(), 20);
//! ```

use std::time::Duration;

use serde_json::Value;
use skiff_core::runtime::leader::LeaseConfig;

use super::SchedulerConfig;
use crate::framework::{ExtensionPoint, Profile, Registry, DEFAULT_SCHEDULER_NAME};

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A field has the wrong type or value.
    #[error("{field}: {message}")]
    Invalid {
        /// The field's path.
        field: String,
        /// What is wrong.
        message: String,
    },
}

fn invalid(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// What a `KubeSchedulerConfiguration` configures.
#[derive(Clone, Debug)]
pub struct KubeSchedulerConfiguration {
    /// The scheduler's settings and profiles.
    pub scheduler: SchedulerConfig,
    /// Leader election, when `leaderElection.leaderElect` is true.
    pub leader_election: Option<LeaseConfig>,
}

/// Parses a Go duration made of `h`, `m`, `s` and `ms` parts (`1m30s`, `500ms`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let (num, tail) = rest.split_at(digits);
        let n: f64 = num.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let secs = match unit {
            "h" => n * 3600.0,
            "m" => n * 60.0,
            "s" => n,
            "ms" => n / 1000.0,
            _ => return None,
        };
        total += Duration::try_from_secs_f64(secs).ok()?;
        rest = next;
    }
    Some(total)
}

fn point(name: &str) -> Option<ExtensionPoint> {
    use ExtensionPoint as X;
    Some(match name {
        "queueSort" => X::QueueSort,
        "preFilter" => X::PreFilter,
        "filter" => X::Filter,
        "postFilter" => X::PostFilter,
        "preScore" => X::PreScore,
        "score" => X::Score,
        "reserve" => X::Reserve,
        "permit" => X::Permit,
        "preBind" => X::PreBind,
        "bind" => X::Bind,
        "postBind" => X::PostBind,
        _ => return None,
    })
}

fn names<'a>(v: &'a Value, field: &str) -> Result<Vec<(&'a str, Option<i64>)>, ConfigError> {
    let Some(list) = v.get(field) else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| invalid(field, "must be a list"))?;
    list.iter()
        .map(|p| {
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(field, "every plugin needs a name"))?;
            Ok((name, p.get("weight").and_then(Value::as_i64)))
        })
        .collect()
}

fn profile(v: &Value, i: usize) -> Result<Profile, ConfigError> {
    let at = |f: &str| format!("profiles[{i}].{f}");
    let name = v
        .get("schedulerName")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_SCHEDULER_NAME);
    let mut p = Profile::default_profile().named(name);
    if let Some(pct) = v.get("percentageOfNodesToScore") {
        let pct = pct
            .as_u64()
            .filter(|n| *n <= 100)
            .ok_or_else(|| invalid(&at("percentageOfNodesToScore"), "must be 0..=100"))?;
        p = p.percentage_of_nodes_to_score(pct as u32);
    }
    let plugins = v.get("plugins").cloned().unwrap_or(Value::Null);
    if let Some(obj) = plugins.as_object() {
        // multiPoint first: it decides the plugin set.
        if let Some(mp) = obj.get("multiPoint") {
            for (n, _) in names(mp, "disabled")? {
                p = if n == "*" {
                    Profile::empty(name)
                        .percentage_of_nodes_to_score_opt(p.percentage_of_nodes_to_score)
                } else {
                    p.without(n)
                };
            }
            for (n, w) in names(mp, "enabled")? {
                p = p.with(n, w.unwrap_or(1));
            }
        }
        for (key, cfg) in obj {
            if key == "multiPoint" {
                continue;
            }
            let x = point(key).ok_or_else(|| {
                invalid(&at(&format!("plugins.{key}")), "unknown extension point")
            })?;
            for (n, _) in names(cfg, "disabled")? {
                if n == "*" {
                    let all: Vec<String> = p.plugins.iter().map(|e| e.name.clone()).collect();
                    for e in all {
                        p = p.disable_at(&e, x);
                    }
                } else {
                    p = p.disable_at(n, x);
                }
            }
            for (n, w) in names(cfg, "enabled")? {
                match p.plugins.iter_mut().find(|e| e.name == n) {
                    Some(e) => {
                        e.disabled_at.retain(|d| *d != x);
                        if let Some(w) = w {
                            e.weight = w;
                        }
                    }
                    None => p = p.with(n, w.unwrap_or(1)),
                }
            }
        }
    }
    for (j, pc) in v
        .get("pluginConfig")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let n = pc
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(&at(&format!("pluginConfig[{j}].name")), "required"))?;
        let args = pc.get("args").cloned().unwrap_or(Value::Null);
        if let Some(e) = p.plugins.iter_mut().find(|e| e.name == n) {
            e.args = args;
        }
    }
    Ok(p)
}

impl KubeSchedulerConfiguration {
    /// The configuration of a scheduler run without a file: the default profile, no
    /// leader election.
    pub fn defaults(registry: Registry) -> Self {
        KubeSchedulerConfiguration {
            scheduler: SchedulerConfig {
                registry,
                ..SchedulerConfig::default()
            },
            leader_election: None,
        }
    }

    /// Reads a configuration file's text, YAML or JSON (`kube-scheduler --config`).
    pub fn from_yaml(text: &str, registry: Registry) -> Result<Self, ConfigError> {
        let v: Value = serde_yaml::from_str(text)
            .map_err(|e| invalid("", format!("not YAML or JSON: {e}")))?;
        Self::from_value(&v, registry)
    }

    /// Reads the configuration; plugins come from `registry` (the default registry,
    /// plus any custom plugins).
    pub fn from_value(v: &Value, registry: Registry) -> Result<Self, ConfigError> {
        if !v.is_object() {
            return Err(invalid(
                "",
                "a KubeSchedulerConfiguration must be an object",
            ));
        }
        if let Some(kind) = v.get("kind").and_then(Value::as_str) {
            if kind != "KubeSchedulerConfiguration" {
                return Err(invalid(
                    "kind",
                    format!("{kind:?} is not KubeSchedulerConfiguration"),
                ));
            }
        }
        let mut s = SchedulerConfig {
            registry,
            ..SchedulerConfig::default()
        };
        if let Some(n) = v.get("parallelism") {
            s.parallelism = n
                .as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid("parallelism", "must be a positive integer"))?
                as usize;
        }
        if let Some(n) = v.get("percentageOfNodesToScore") {
            s.percentage_of_nodes_to_score = Some(
                n.as_u64()
                    .filter(|n| *n <= 100)
                    .ok_or_else(|| invalid("percentageOfNodesToScore", "must be 0..=100"))?
                    as u32,
            );
        }
        let secs = |f: &str| -> Result<Option<Duration>, ConfigError> {
            match v.get(f) {
                None => Ok(None),
                Some(n) => n
                    .as_u64()
                    .filter(|n| *n > 0)
                    .map(|n| Some(Duration::from_secs(n)))
                    .ok_or_else(|| invalid(f, "must be a positive number of seconds")),
            }
        };
        if let Some(d) = secs("podInitialBackoffSeconds")? {
            s.queue.initial_backoff = d;
        }
        if let Some(d) = secs("podMaxBackoffSeconds")? {
            s.queue.max_backoff = d;
        }
        if let Some(profiles) = v.get("profiles") {
            let list = profiles
                .as_array()
                .ok_or_else(|| invalid("profiles", "must be a list"))?;
            if !list.is_empty() {
                s.profiles = list
                    .iter()
                    .enumerate()
                    .map(|(i, p)| profile(p, i))
                    .collect::<Result<_, _>>()?;
            }
        }
        let le = v.get("leaderElection");
        let leader_election = match le {
            Some(le)
                if le
                    .get("leaderElect")
                    .and_then(Value::as_bool)
                    .unwrap_or(true) =>
            {
                let mut c = LeaseConfig::default();
                for (f, slot) in [
                    ("leaseDuration", &mut c.lease_duration),
                    ("renewDeadline", &mut c.renew_deadline),
                    ("retryPeriod", &mut c.retry_period),
                ] {
                    if let Some(d) = le.get(f) {
                        *slot = d.as_str().and_then(parse_duration).ok_or_else(|| {
                            invalid(
                                &format!("leaderElection.{f}"),
                                "must be a duration such as 15s",
                            )
                        })?;
                    }
                }
                Some(c)
            }
            _ => None,
        };
        Ok(KubeSchedulerConfiguration {
            scheduler: s,
            leader_election,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<KubeSchedulerConfiguration, ConfigError> {
        KubeSchedulerConfiguration::from_value(&v, crate::plugins::default_registry())
    }

    #[test]
    fn yaml_files() {
        let yaml = "apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
parallelism: 4
leaderElection:
  leaderElect: true
  leaseDuration: 30s
profiles:
  - schedulerName: default-scheduler
  - schedulerName: spread
    pluginConfig:
      - name: PodTopologySpread
        args:
          defaultingType: List
          defaultConstraints:
            - maxSkew: 1
              topologyKey: topology.kubernetes.io/zone
              whenUnsatisfiable: DoNotSchedule
";
        let c = KubeSchedulerConfiguration::from_yaml(yaml, crate::plugins::default_registry())
            .expect("valid");
        assert_eq!(c.scheduler.parallelism, 4);
        assert_eq!(c.scheduler.profiles.len(), 2);
        assert_eq!(
            c.leader_election.map(|l| l.lease_duration),
            Some(Duration::from_secs(30))
        );
        let json = r#"{"kind": "KubeSchedulerConfiguration", "percentageOfNodesToScore": 20}"#;
        let c = KubeSchedulerConfiguration::from_yaml(json, crate::plugins::default_registry())
            .expect("JSON is YAML");
        assert_eq!(c.scheduler.percentage_of_nodes_to_score, Some(20));
        for bad in ["kind: [", "- a list", "parallelism: many"] {
            assert!(
                KubeSchedulerConfiguration::from_yaml(bad, crate::plugins::default_registry())
                    .is_err(),
                "{bad}"
            );
        }
        let d = KubeSchedulerConfiguration::defaults(crate::plugins::default_registry());
        assert!(d.leader_election.is_none());
        assert_eq!(d.scheduler.profiles.len(), 1);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s"), Some(Duration::from_secs(15)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn profiles_and_plugins() {
        let c = parse(json!({
            "kind": "KubeSchedulerConfiguration",
            "parallelism": 4,
            "percentageOfNodesToScore": 30,
            "podInitialBackoffSeconds": 2,
            "profiles": [{
                "schedulerName": "custom",
                "plugins": {
                    "score": {"disabled": [{"name": "ImageLocality"}], "enabled": [{"name": "NodeResourcesFit", "weight": 5}]},
                    "multiPoint": {"disabled": [{"name": "DefaultPreemption"}]}
                },
                "pluginConfig": [{"name": "InterPodAffinity", "args": {"hardPodAffinityWeight": 7}}]
            }]
        }))
        .unwrap();
        let s = &c.scheduler;
        assert_eq!(
            (s.parallelism, s.percentage_of_nodes_to_score),
            (4, Some(30))
        );
        assert_eq!(s.queue.initial_backoff, Duration::from_secs(2));
        assert!(c.leader_election.is_none());
        let p = &s.profiles[0];
        assert_eq!(p.scheduler_name, "custom");
        assert!(p.plugins.iter().all(|e| e.name != "DefaultPreemption"));
        let get = |n: &str| p.plugins.iter().find(|e| e.name == n).unwrap();
        assert_eq!(
            get("ImageLocality").disabled_at,
            vec![ExtensionPoint::Score]
        );
        assert_eq!(get("NodeResourcesFit").weight, 5);
        assert_eq!(
            get("InterPodAffinity").args,
            json!({"hardPodAffinityWeight": 7})
        );
        // The profile builds.
        assert!(crate::framework::Framework::new(
            p,
            &s.registry,
            &crate::framework::Handle {
                client: std::sync::Arc::new(crate::plugins::testing::Unreachable),
                waiting_pods: Default::default(),
            }
        )
        .is_ok());
    }

    #[test]
    fn leader_election_and_errors() {
        let c =
            parse(json!({"leaderElection": {"leaderElect": true, "renewDeadline": "8s"}})).unwrap();
        let le = c.leader_election.unwrap();
        assert_eq!(
            (le.lease_duration.as_secs(), le.renew_deadline.as_secs()),
            (15, 8)
        );
        assert!(parse(json!({"leaderElection": {"leaderElect": false}}))
            .unwrap()
            .leader_election
            .is_none());
        assert!(parse(json!({"leaderElection": {"leaseDuration": 15}})).is_err());
        assert!(parse(json!({"parallelism": 0})).is_err());
        assert!(parse(json!({"kind": "Pod"})).is_err());
        assert!(parse(json!({"profiles": [{"plugins": {"bogus": {}}}]})).is_err());
        assert!(parse(json!([])).is_err());
        assert_eq!(parse(json!({})).unwrap().scheduler.profiles.len(), 1);
    }
}
