//! The pod a Job creates: its template, controlled by the Job, and in Indexed mode
//! the completion index as annotation and label, `JOB_COMPLETION_INDEX` in every
//! container's environment, hostname `{job}-{index}` and name `{job}-{index}-xxxxx`.
//!
//! ```
//! use k8s_openapi::api::batch::v1::{Job, JobSpec};
//! use skiff_controllers::job::template::pod_for;
//! let mut job = Job::default();
//! job.metadata.name = Some("pi".into());
//! job.metadata.namespace = Some("default".into());
//! job.spec = Some(JobSpec { completion_mode: Some("Indexed".into()), ..Default::default() });
//! let pod = pod_for(&job, Some(2));
//! assert_eq!(pod.metadata.generate_name.as_deref(), Some("pi-2-"));
//! assert_eq!(pod.spec.unwrap().hostname.as_deref(), Some("pi-2"));
//! ```

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    Container, EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodSpec,
};

use super::indexed::{INDEX_ENV, INDEX_KEY};
use crate::pods;

/// A new pod of `job`; `index` is its completion index in Indexed mode.
pub fn pod_for(job: &Job, index: Option<i32>) -> Pod {
    let name = job.metadata.name.clone().unwrap_or_default();
    let ns = job.metadata.namespace.clone().unwrap_or_default();
    let mut template = job.spec.clone().unwrap_or_default().template;
    let mut extra_labels = BTreeMap::new();
    let prefix = match index {
        Some(i) => {
            let value = i.to_string();
            let meta = template.metadata.get_or_insert_with(Default::default);
            meta.annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(INDEX_KEY.to_owned(), value.clone());
            extra_labels.insert(INDEX_KEY.to_owned(), value);
            let spec = template.spec.get_or_insert_with(PodSpec::default);
            spec.hostname = Some(format!("{name}-{i}"));
            spec.containers.iter_mut().for_each(add_index_env);
            spec.init_containers
                .iter_mut()
                .flatten()
                .for_each(add_index_env);
            format!("{name}-{i}")
        }
        None => name,
    };
    pods::from_template(
        &template,
        &ns,
        &prefix,
        pods::controller_ref(job),
        &extra_labels,
    )
}

/// Adds `JOB_COMPLETION_INDEX` from the index annotation, unless the container sets it.
fn add_index_env(container: &mut Container) {
    let env = container.env.get_or_insert_with(Vec::new);
    if env.iter().any(|e| e.name == INDEX_ENV) {
        return;
    }
    env.push(EnvVar {
        name: INDEX_ENV.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: Some("v1".to_owned()),
                field_path: format!("metadata.annotations['{INDEX_KEY}']"),
            }),
            ..EnvVarSource::default()
        }),
    });
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::batch::v1::JobSpec;

    use super::*;

    #[test]
    fn indexed_pods_carry_their_index_and_others_do_not() {
        let mut job = Job::default();
        job.metadata.name = Some("w".into());
        job.metadata.uid = Some("u".into());
        let mut spec = JobSpec::default();
        spec.template.spec = Some(PodSpec {
            containers: vec![Container {
                name: "c".into(),
                ..Container::default()
            }],
            ..PodSpec::default()
        });
        job.spec = Some(spec);
        let plain = pod_for(&job, None);
        assert_eq!(plain.metadata.generate_name.as_deref(), Some("w-"));
        assert!(plain.spec.as_ref().unwrap().containers[0].env.is_none());
        assert_eq!(plain.metadata.owner_references.unwrap()[0].uid, "u");

        let pod = pod_for(&job, Some(0));
        assert_eq!(pod.metadata.labels.unwrap()[INDEX_KEY], "0");
        assert_eq!(pod.metadata.annotations.unwrap()[INDEX_KEY], "0");
        let env = pod.spec.unwrap().containers[0].env.clone().unwrap();
        assert_eq!(env[0].name, INDEX_ENV);
    }
}
