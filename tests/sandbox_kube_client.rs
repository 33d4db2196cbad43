//! kube-rs 5 against the sandbox (or a real cluster when `KUBECTL_GITOPS_E2E_KUBECONFIG` is set):
//! discovery, list with selectors, server-side apply, watch, dynamic objects, error statuses.

mod common;

use std::time::Duration;

use common::TestCluster;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::response::StatusSummary;
use kube::discovery::{Discovery, Scope, verbs};
use kube::runtime::watcher;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

fn configmap(name: &str, labels: serde_json::Value, data: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": data,
    }))
    .unwrap()
}

fn deployment(replicas: i32) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}
            }
        }
    })
}

/// Names of the items of a list, in the order the server sent them.
fn names<K: kube::Resource + Clone>(list: &kube::api::ObjectList<K>) -> Vec<String> {
    list.items
        .iter()
        .filter_map(|o| o.meta().name.clone())
        .collect()
}

/// The API error status of `result`, which must be an error.
fn api_error<T: std::fmt::Debug>(result: kube::Result<T>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected kube::Error::Api, got {other:?}"),
    }
}

#[tokio::test]
async fn discovery_finds_deployments_with_scale_subresource() {
    let c = TestCluster::start();
    let client = c.client().await;
    let discovery = Discovery::new(client).run().await.unwrap();
    let apps = discovery.get("apps").expect("apps group discovered");
    assert_eq!(apps.preferred_version(), Some("v1"));
    let (ar, caps) = apps
        .recommended_kind("Deployment")
        .expect("Deployment in apps");
    assert_eq!(ar.plural, "deployments");
    assert_eq!(ar.api_version, "apps/v1");
    assert_eq!(caps.scope, Scope::Namespaced);
    for verb in [
        verbs::GET,
        verbs::LIST,
        verbs::WATCH,
        verbs::CREATE,
        verbs::PATCH,
        verbs::DELETE,
    ] {
        assert!(
            caps.supports_operation(verb),
            "deployments lack verb {verb}: {caps:?}"
        );
    }
    let subresources: Vec<&str> = caps
        .subresources
        .iter()
        .map(|(r, _)| r.plural.as_str())
        .collect();
    assert!(subresources.contains(&"scale"), "{subresources:?}");
    assert!(subresources.contains(&"status"), "{subresources:?}");

    let (ns, ns_caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Namespace"))
        .expect("core Namespace");
    assert_eq!(ns.plural, "namespaces");
    assert_eq!(ns_caps.scope, Scope::Cluster);
}

/// Aggregated discovery (`apidiscovery.k8s.io/v2`, what kubectl 1.33 asks for first) agrees.
#[tokio::test]
async fn aggregated_discovery_finds_deployments_with_scale_subresource() {
    let c = TestCluster::start();
    let client = c.client().await;
    let groups = client.list_api_groups_aggregated().await.unwrap();
    let apps = groups
        .items
        .iter()
        .find(|g| g.metadata.as_ref().and_then(|m| m.name.as_deref()) == Some("apps"));
    assert!(
        apps.is_some_and(|g| !g.versions.is_empty()),
        "GET /apis with Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList \
         must list group apps with its versions; got {} groups",
        groups.items.len()
    );
    let aggregated = Discovery::new(client).run_aggregated().await.unwrap();
    let (ar, caps) = aggregated
        .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
        .expect("Deployment via aggregated discovery");
    assert_eq!(ar.plural, "deployments");
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(caps.subresources.iter().any(|(r, _)| r.plural == "scale"));
    let (cm, _) = aggregated
        .resolve_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap"))
        .expect("ConfigMap via aggregated discovery");
    assert_eq!(cm.plural, "configmaps");
}

#[tokio::test]
async fn configmaps_create_get_and_list_by_label() {
    let c = TestCluster::start();
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, c.namespace());
    let pp = PostParams::default();
    let created = api
        .create(
            &pp,
            &configmap("one", json!({"app": "web"}), json!({"k": "1"})),
        )
        .await
        .unwrap();
    let meta = &created.metadata;
    assert_eq!(meta.namespace.as_deref(), Some(c.namespace()));
    assert!(meta.uid.is_some() && meta.resource_version.is_some());
    assert!(meta.creation_timestamp.is_some());
    api.create(
        &pp,
        &configmap("two", json!({"app": "db"}), json!({"k": "2"})),
    )
    .await
    .unwrap();
    api.create(&pp, &configmap("three", json!({"app": "web"}), json!({})))
        .await
        .unwrap();

    let got = api.get("one").await.unwrap();
    assert_eq!(got.data.unwrap()["k"], "1");
    assert_eq!(got.metadata.uid, meta.uid);

    let web = api
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(names(&web), ["one", "three"]);
    assert!(
        web.metadata
            .resource_version
            .is_some_and(|rv| !rv.is_empty())
    );
    let not_web = api
        .list(&ListParams::default().labels("app,app!=web"))
        .await
        .unwrap();
    assert_eq!(names(&not_web), ["two"]);
    let by_field = api
        .list(&ListParams::default().fields("metadata.name=two"))
        .await
        .unwrap();
    assert_eq!(by_field.items.len(), 1);
}

#[tokio::test]
async fn server_side_apply_forced_then_dry_run_leaves_object_unchanged() {
    let c = TestCluster::start();
    let api: Api<Deployment> = Api::namespaced(c.client().await, c.namespace());
    let params = PatchParams::apply("kubectl-gitops").force();
    let applied = api
        .patch("web", &params, &Patch::Apply(deployment(2)))
        .await
        .unwrap();
    assert_eq!(applied.spec.as_ref().unwrap().replicas, Some(2));
    assert_eq!(
        applied.spec.as_ref().unwrap().revision_history_limit,
        Some(10)
    );
    let managers: Vec<_> = applied
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|m| (m.manager.clone(), m.operation.clone()))
        .collect();
    assert!(
        managers.contains(&(Some("kubectl-gitops".into()), Some("Apply".into()))),
        "{managers:?}"
    );
    let before = api.get("web").await.unwrap();

    let preview = api
        .patch(
            "web",
            &params.clone().dry_run(),
            &Patch::Apply(deployment(5)),
        )
        .await
        .unwrap();
    assert_eq!(
        preview.spec.as_ref().unwrap().replicas,
        Some(5),
        "the dry run shows the result"
    );

    let after = api.get("web").await.unwrap();
    assert_eq!(after.spec.as_ref().unwrap().replicas, Some(2));
    assert_eq!(after.metadata.generation, before.metadata.generation);
    // Status may move on its own (the rollout); the spec and its owners must not.
    assert_eq!(after.spec, before.spec);
    assert_eq!(
        after
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter(|m| m.manager.as_deref() == Some("kubectl-gitops"))
            .count(),
        1
    );

    // Another manager setting a different value conflicts unless forced.
    let other = PatchParams::apply("someone-else");
    let status = api_error(api.patch("web", &other, &Patch::Apply(deployment(3))).await);
    assert_eq!(status.code, 409, "{status:?}");
    assert_eq!(status.reason, "Conflict", "{status:?}");
    assert!(status.message.contains(".spec.replicas"), "{status:?}");
    assert!(
        status.message.contains(r#"conflict with "kubectl-gitops""#),
        "{status:?}"
    );
}

#[tokio::test]
async fn watch_sees_added_then_modified() {
    let c = TestCluster::start();
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, c.namespace());
    let list = api
        .list(&ListParams::default().labels("suite=kube-watch"))
        .await
        .unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut events = api
        .watch(&WatchParams::default().labels("suite=kube-watch"), &rv)
        .await
        .unwrap()
        .boxed();

    api.create(
        &PostParams::default(),
        &configmap("watched", json!({"suite": "kube-watch"}), json!({"v": "1"})),
    )
    .await
    .unwrap();
    // Not selected: must not show up between our two events.
    api.create(
        &PostParams::default(),
        &configmap("ignored", json!({}), json!({})),
    )
    .await
    .unwrap();
    api.patch(
        "watched",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();

    let first = tokio::time::timeout(WAIT, events.try_next())
        .await
        .expect("an ADDED event in time")
        .unwrap()
        .expect("stream open");
    let WatchEvent::Added(added) = first else {
        panic!("expected ADDED, got {first:?}")
    };
    assert_eq!(added.metadata.name.as_deref(), Some("watched"));
    assert_eq!(added.data.as_ref().unwrap()["v"], "1");
    let second = tokio::time::timeout(WAIT, events.try_next())
        .await
        .expect("a MODIFIED event in time")
        .unwrap()
        .expect("stream open");
    let WatchEvent::Modified(modified) = second else {
        panic!("expected MODIFIED, got {second:?}")
    };
    assert_eq!(modified.data.as_ref().unwrap()["v"], "2");
    assert!(
        modified
            .metadata
            .resource_version
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > added
                .metadata
                .resource_version
                .unwrap()
                .parse::<u64>()
                .unwrap(),
        "resourceVersions grow"
    );

    // kube-runtime's watcher: initial list, then live changes.
    let mut stream = watcher(
        api.clone(),
        watcher::Config::default().labels("suite=kube-watch"),
    )
    .boxed();
    let mut seen_init = Vec::new();
    loop {
        let ev = tokio::time::timeout(WAIT, stream.try_next())
            .await
            .expect("watcher events in time")
            .unwrap()
            .unwrap();
        match ev {
            watcher::Event::Init => {}
            watcher::Event::InitApply(cm) => seen_init.push(cm.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            other => panic!("unexpected event before InitDone: {other:?}"),
        }
    }
    assert_eq!(seen_init, ["watched"]);
    api.delete("watched", &DeleteParams::default())
        .await
        .unwrap();
    let ev = tokio::time::timeout(WAIT, stream.try_next())
        .await
        .expect("a delete event in time")
        .unwrap()
        .unwrap();
    assert!(
        matches!(&ev, watcher::Event::Delete(cm) if cm.metadata.name.as_deref() == Some("watched")),
        "{ev:?}"
    );
}

/// A watch the server closes is resumed from the last resourceVersion: no event is lost and
/// nothing is listed again.
#[tokio::test]
async fn watcher_resumes_after_the_server_closes_watches() {
    let c = TestCluster::start_with_sandbox_flags(&["--drop-watches-after", "2"]);
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, c.namespace());
    let mut stream = watcher(
        api.clone(),
        watcher::Config::default().labels("suite=resume"),
    )
    .boxed();
    let next = async |stream: &mut futures::stream::BoxStream<'_, _>| {
        tokio::time::timeout(WAIT, stream.try_next())
            .await
            .expect("a watcher event in time")
            .unwrap()
            .expect("the watcher stream never ends")
    };
    loop {
        if let watcher::Event::InitDone = next(&mut stream).await {
            break;
        }
    }
    let wanted: Vec<String> = (1..=5).map(|i| format!("cm{i}")).collect();
    for name in &wanted {
        api.create(
            &PostParams::default(),
            &configmap(name, json!({"suite": "resume"}), json!({})),
        )
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    while seen.len() < wanted.len() {
        match next(&mut stream).await {
            watcher::Event::Apply(cm) => seen.push(cm.metadata.name.unwrap()),
            other => panic!("expected only live changes after the resumed watches, got {other:?}"),
        }
    }
    assert_eq!(seen, wanted);
}

#[tokio::test]
async fn dynamic_objects_of_a_custom_resource() {
    let c = TestCluster::start();
    let client = c.client().await;
    let group = format!("g{}.kgo-e2e.example.com", common::random_suffix());
    let crd_name = format!("gadgets.{group}");
    c.track_cluster_scoped("customresourcedefinition", &crd_name);
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": crd_name},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}
                }}}
            }]
        }
    }))
    .unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let crd = crds.get(&crd_name).await.unwrap();
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "CRD never Established"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let gvk = GroupVersionKind::gvk(&group, "v1", "Gadget");
    let discovery = Discovery::new(client.clone())
        .filter(&[group.as_str()])
        .run()
        .await
        .unwrap();
    let (discovered, caps) = discovery
        .resolve_gvk(&gvk)
        .expect("the CRD's kind is discovered");
    assert_eq!(discovered.plural, "gadgets");
    assert_eq!(caps.scope, Scope::Namespaced);

    let ar = ApiResource::from_gvk_with_plural(&gvk, "gadgets");
    let api: Api<DynamicObject> = Api::namespaced_with(client, c.namespace(), &ar);
    let obj = DynamicObject::new("sprocket", &ar).data(json!({"spec": {"size": 7}}));
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let got = api.get("sprocket").await.unwrap();
    assert_eq!(got.data["spec"]["size"], 7);
    assert_eq!(
        got.types
            .as_ref()
            .map(|t| (t.api_version.clone(), t.kind.clone())),
        Some((format!("{group}/v1"), "Gadget".to_string()))
    );
    let applied = api
        .patch(
            "sprocket",
            // The create's manager owns spec.size: taking it over needs force.
            &PatchParams::apply("kubectl-gitops").force(),
            &Patch::Apply(json!({
                "apiVersion": format!("{group}/v1"),
                "kind": "Gadget",
                "metadata": {"name": "sprocket"},
                "spec": {"size": 8}
            })),
        )
        .await
        .unwrap();
    assert_eq!(applied.data["spec"]["size"], 8);
    assert_eq!(applied.metadata.generation, Some(2));
    let listed = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
}

#[tokio::test]
async fn errors_come_back_as_api_statuses() {
    let c = TestCluster::start();
    let api: Api<ConfigMap> = Api::namespaced(c.client().await, c.namespace());

    let status = api_error(api.get("missing").await);
    assert_eq!(status.code, 404, "{status:?}");
    assert_eq!(status.reason, "NotFound", "{status:?}");
    assert_eq!(status.message, r#"configmaps "missing" not found"#);
    assert_eq!(status.status, Some(StatusSummary::Failure));
    let details = status.details.expect("details");
    assert_eq!(details.name, "missing");
    assert_eq!(details.kind, "configmaps");

    let pp = PostParams::default();
    api.create(&pp, &configmap("dup", json!({}), json!({})))
        .await
        .unwrap();
    let status = api_error(
        api.create(&pp, &configmap("dup", json!({}), json!({})))
            .await,
    );
    assert_eq!(status.code, 409, "{status:?}");
    assert_eq!(status.reason, "AlreadyExists", "{status:?}");
    assert_eq!(status.message, r#"configmaps "dup" already exists"#);

    let status = api_error(
        api.create(&pp, &configmap("Not_Valid", json!({}), json!({})))
            .await,
    );
    assert_eq!(status.code, 422, "{status:?}");
    assert_eq!(status.reason, "Invalid", "{status:?}");
    let causes = status.details.map(|d| d.causes).unwrap_or_default();
    assert!(
        causes
            .iter()
            .any(|c| c.field == "metadata.name" && c.reason == "FieldValueInvalid"),
        "{causes:?}"
    );

    let elsewhere: Api<ConfigMap> = Api::namespaced(
        c.client().await,
        &format!("nosuch-{}", common::random_suffix()),
    );
    let status = api_error(
        elsewhere
            .create(&pp, &configmap("x", json!({}), json!({})))
            .await,
    );
    assert_eq!(status.code, 404, "{status:?}");
    assert_eq!(status.reason, "NotFound", "{status:?}");
    assert!(
        status.message.starts_with("namespaces \"nosuch-"),
        "{status:?}"
    );
}
