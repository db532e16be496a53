//! Rollouts as the list watch reads them: parsed straight from the API server's answer into the
//! compact row model, never into a tree of JSON values. A thousand rollouts with their managed
//! fields, last-applied annotations and pod templates would otherwise be materialised whole,
//! page after page, and the cockpit's peak stays resident.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Deserializer};

use super::model::{Meta, Rollout};

/// A rollout from the list watch: compacted as it is parsed, with just the metadata the
/// watcher needs to resume (name, namespace, resource version).
#[derive(Clone, Debug)]
pub struct Listed {
    pub rollout: Rollout,
    meta: ObjectMeta,
}

impl<'de> Deserialize<'de> for Listed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Listed, D::Error> {
        // One rollout at a time, so only one is ever held as a tree of values; one that does not
        // fit the model is listed as unreadable instead of failing the whole list. (A raw slice
        // of the text would be cheaper, but a watch event whose object precedes its type is
        // buffered by serde first, and a raw slice cannot be read from that buffer.)
        let value = serde_json::Value::deserialize(d)?;
        let rollout = match Rollout::deserialize(&value) {
            Ok(r) => r.compact(),
            Err(e) => unreadable(&value, &e),
        };
        let m = &rollout.metadata;
        let meta = ObjectMeta {
            name: Some(m.name.clone()),
            namespace: Some(m.namespace.clone()),
            uid: Some(m.uid.clone()),
            resource_version: Some(m.resource_version.clone()),
            ..ObjectMeta::default()
        };
        Ok(Listed { rollout, meta })
    }
}

/// A rollout whose text the model cannot read: shown, by name, as Degraded with the reason.
fn unreadable(value: &serde_json::Value, e: &serde_json::Error) -> Rollout {
    let metadata = value.get("metadata").and_then(|m| Meta::deserialize(m).ok()).unwrap_or_default();
    let mut r = Rollout { metadata, ..Rollout::default() };
    r.status.phase = Some("Degraded".into());
    // serde quotes the offending value, which is the cluster's text and may be of any size.
    r.status.message = Some(format!("flightdeck cannot read this rollout: {}", crate::logstore::sanitize::excerpt(&e.to_string(), 160)));
    r
}

/// `kube::Resource` for a compact listed type read through an `ApiResource` (a field `meta`
/// holds what the watcher needs).
macro_rules! dynamic_resource {
    ($t:ty) => {
        impl kube::Resource for $t {
            type DynamicType = kube::core::ApiResource;
            type Scope = kube::core::DynamicResourceScope;

            fn kind(dt: &kube::core::ApiResource) -> std::borrow::Cow<'_, str> {
                dt.kind.as_str().into()
            }

            fn group(dt: &kube::core::ApiResource) -> std::borrow::Cow<'_, str> {
                dt.group.as_str().into()
            }

            fn version(dt: &kube::core::ApiResource) -> std::borrow::Cow<'_, str> {
                dt.version.as_str().into()
            }

            fn api_version(dt: &kube::core::ApiResource) -> std::borrow::Cow<'_, str> {
                dt.api_version.as_str().into()
            }

            fn plural(dt: &kube::core::ApiResource) -> std::borrow::Cow<'_, str> {
                dt.plural.as_str().into()
            }

            fn meta(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &self.meta
            }

            fn meta_mut(&mut self) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &mut self.meta
            }
        }
    };
}
pub(crate) use dynamic_resource;

dynamic_resource!(Listed);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_rollout_keeps_what_a_row_needs_and_drops_the_rest() {
        let json = serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "resourceVersion": "42",
                "labels": {"app": "web"},
                "annotations": {"rollout.argoproj.io/revision": "3", "kubectl.kubernetes.io/last-applied-configuration": "{…a whole object…}"},
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:2", "env": [{"name": "A", "value": "b"}]}]}},
                "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}},
            "status": {"phase": "Paused", "currentStepIndex": 1}
        });
        let listed: Listed = serde_json::from_value(json).expect("a rollout");
        let r = &listed.rollout;
        assert_eq!(kube::Resource::meta(&listed).resource_version.as_deref(), Some("42"));
        assert_eq!(r.key(), "shop/web");
        assert_eq!(crate::argo::model::images(r.spec.template.as_ref()), vec!["web:2".to_string()]);
        assert_eq!(r.steps().len(), 2);
        assert_eq!(r.metadata.annotations["rollout.argoproj.io/revision"], "3");
        assert_eq!(r.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"], "");
        assert!(r.metadata.labels.is_empty() && r.spec.selector.is_none());
        let template = r.spec.template.as_ref().expect("the containers");
        assert_eq!(template["spec"]["containers"][0], serde_json::json!({"name": "web", "image": "web:2"}));
    }

    #[test]
    fn a_rollout_the_model_cannot_read_is_listed_as_degraded_with_the_reason() {
        let text = r#"[{"metadata": {"name": "odd", "namespace": "shop"}, "status": {"currentStepIndex": "two"}},
                       {"metadata": {"name": "web", "namespace": "shop"}}]"#;
        let listed: Vec<Listed> = serde_json::from_str(text).expect("both listed");
        assert_eq!(listed.len(), 2);
        let odd = &listed[0].rollout;
        assert_eq!(odd.key(), "shop/odd");
        assert_eq!(odd.status.phase.as_deref(), Some("Degraded"));
        assert!(odd.status.message.as_deref().unwrap_or_default().contains("cannot read"), "{:?}", odd.status.message);
        assert_eq!(listed[1].rollout.key(), "shop/web");
    }

    #[test]
    fn a_watch_event_reads_whichever_key_comes_first() {
        for text in [
            r#"{"type": "ADDED", "object": {"metadata": {"name": "web", "namespace": "shop", "resourceVersion": "7"}}}"#,
            r#"{"object": {"metadata": {"name": "web", "namespace": "shop", "resourceVersion": "7"}}, "type": "ADDED"}"#,
        ] {
            let event: kube::core::WatchEvent<Listed> = serde_json::from_str(text).expect(text);
            let kube::core::WatchEvent::Added(listed) = event else { panic!("an added rollout: {text}") };
            assert_eq!(listed.rollout.key(), "shop/web");
        }
    }

    #[test]
    fn the_reason_a_rollout_cannot_be_read_quotes_only_an_excerpt_of_its_text() {
        let huge = format!("\u{1b}]52;c;{}", "x".repeat(1 << 20));
        let text =
            serde_json::json!([{"metadata": {"name": "odd", "namespace": "shop"}, "status": {"currentStepIndex": huge}}]).to_string();
        let listed: Vec<Listed> = serde_json::from_str(&text).expect("listed");
        let message = listed[0].rollout.status.message.clone().unwrap_or_default();
        assert!(message.len() < 400, "{} bytes", message.len());
        assert!(!message.contains('\u{1b}'), "{message:?}");
    }
}
