//! Applications as the watch reads them: each parsed from the API server's answer into the row
//! model on its own (one application's JSON tree at a time), never a whole page of trees — the
//! cockpit's peak with a thousand applications stays small.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Deserializer};

use super::model::App;

#[derive(Clone, Debug)]
pub struct ListedApp {
    pub app: App,
    meta: ObjectMeta,
}

impl<'de> Deserialize<'de> for ListedApp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ListedApp, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let name = value.pointer("/metadata/name").and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let app = match App::from_json(value) {
            Ok(app) => app.for_list(),
            // Listed by its name, as unknown, with the reason (not a failed list).
            Err(e) => {
                let mut app = App::default();
                app.metadata.name = name;
                app.status.health.status = "Unknown".into();
                app.status.health.message =
                    Some(format!("flightdeck cannot read this application: {}", crate::logstore::sanitize::excerpt(&e, 160)));
                app
            }
        };
        let m = &app.metadata;
        let meta = ObjectMeta {
            name: Some(m.name.clone()),
            namespace: m.namespace.clone(),
            resource_version: m.resource_version.clone(),
            ..ObjectMeta::default()
        };
        Ok(ListedApp { app, meta })
    }
}

crate::argo::listed::dynamic_resource!(ListedApp);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_application_keeps_its_row_and_an_unreadable_one_says_why() {
        let text = r#"[{"metadata": {"name": "checkout", "namespace": "argocd", "resourceVersion": "9"},
                        "status": {"sync": {"status": "Synced"}, "resources": [{"kind": "Deployment", "name": "x"}]}},
                       {"metadata": {"name": "odd"}, "status": {"history": "not a list"}}]"#;
        let listed: Vec<ListedApp> = serde_json::from_str(text).expect("both listed");
        assert_eq!(kube::Resource::meta(&listed[0]).resource_version.as_deref(), Some("9"));
        assert_eq!(listed[0].app.status.sync.status, "Synced");
        assert!(listed[0].app.status.resources.is_empty(), "kept for the row only");
        assert_eq!(listed[1].app.name(), "odd");
        assert!(listed[1].app.status.health.message.as_deref().unwrap_or_default().contains("cannot read"));
    }
}
