//! `PreferLabel`: a Score plugin that prefers nodes carrying one label value, the
//! plugin of the custom_scheduler example (shared with its test).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use skiff_sched::cache::NodeInfo;
use skiff_sched::framework::{CycleState, Plugin, RegistryError, ScorePlugin, Status};

/// The plugin's registry name.
pub const NAME: &str = "PreferLabel";

/// Scores 100 on nodes whose label `key` equals `value`, 0 elsewhere.
pub struct PreferLabel {
    key: String,
    value: String,
}

impl Plugin for PreferLabel {
    fn name(&self) -> &str {
        NAME
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl ScorePlugin for PreferLabel {
    fn score(&self, _: &CycleState, _: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let hit = node.labels().and_then(|l| l.get(&self.key)) == Some(&self.value);
        Ok(if hit { 100 } else { 0 })
    }
}

/// The factory: arguments `{"key": "...", "value": "..."}`.
pub fn factory(
    args: &serde_json::Value,
    _: &skiff_sched::framework::Handle,
) -> Result<Arc<dyn Plugin>, RegistryError> {
    let field = |f: &str| {
        args.get(f)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| RegistryError::InvalidArgs {
                plugin: NAME.into(),
                message: format!("{f} (a string) is required"),
            })
    };
    Ok(Arc::new(PreferLabel {
        key: field("key")?,
        value: field("value")?,
    }))
}

/// A scheduler serving only `scheduler_name`: the default plugins plus PreferLabel
/// (weight 50, so the label outweighs the resource scores).
pub fn config(
    scheduler_name: &str,
    key: &str,
    value: &str,
) -> skiff_sched::scheduler::SchedulerConfig {
    use skiff_sched::framework::Profile;
    let mut registry = skiff_sched::plugins::default_registry();
    registry
        .register(NAME, factory)
        .expect("PreferLabel is not registered yet");
    let profile = Profile::default_profile().named(scheduler_name).with_args(
        NAME,
        50,
        serde_json::json!({"key": key, "value": value}),
    );
    skiff_sched::scheduler::SchedulerConfig {
        profiles: vec![profile],
        registry,
        ..Default::default()
    }
}
