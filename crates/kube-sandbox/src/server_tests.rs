//! HTTP-level tests of a running sandbox, through a plain TCP client.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Sandbox, SandboxOptions};

struct Answer {
    code: u16,
    headers: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// JSON lines of a (chunked) watch stream.
    fn events(&self) -> Vec<Value> {
        String::from_utf8_lossy(&self.body)
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| l.starts_with("{\"type\""))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

async fn call(sb: &Sandbox, method: &str, path: &str, ctype: &str, body: &str) -> Answer {
    let mut stream = tokio::net::TcpStream::connect(sb.addr()).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: kubectl/v1.33.0 (linux/amd64)\r\nConnection: close\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let headers = String::from_utf8_lossy(&raw[..split]).to_string();
    let code = headers[9..12].parse().unwrap();
    Answer {
        code,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

async fn get(sb: &Sandbox, path: &str) -> Answer {
    call(sb, "GET", path, "application/json", "").await
}

async fn post(sb: &Sandbox, path: &str, body: &Value) -> Answer {
    call(sb, "POST", path, "application/json", &body.to_string()).await
}

async fn put(sb: &Sandbox, path: &str, body: &Value) -> Answer {
    call(sb, "PUT", path, "application/json", &body.to_string()).await
}

async fn start(opts: SandboxOptions) -> (Sandbox, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let opts = SandboxOptions {
        kubeconfig_out: Some(dir.path().join("kubeconfig")),
        ..opts
    };
    (Sandbox::start(opts).await.unwrap(), dir)
}

fn cm(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn rv(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn serves_version_discovery_and_the_four_namespaces() {
    let (sb, _dir) = start(SandboxOptions::default()).await;
    let kc = std::fs::read_to_string(sb.kubeconfig()).unwrap();
    assert!(kc.contains(&sb.url()));
    let v = get(&sb, "/version").await.json();
    assert_eq!(v["minor"], "33");
    assert_eq!(v["gitVersion"], "v1.33.0");
    let ns = get(&sb, "/api/v1/namespaces").await.json();
    assert_eq!(ns["kind"], "NamespaceList");
    assert_eq!(ns["items"].as_array().unwrap().len(), 4);
    assert_eq!(get(&sb, "/healthz").await.code, 200);
    let apps = get(&sb, "/apis/apps/v1").await.json();
    assert_eq!(apps["groupVersion"], "apps/v1");
    assert_eq!(get(&sb, "/apis/nope/v1").await.code, 404);
    assert_eq!(
        get(&sb, "/api/v1/namespaces/default/nothings").await.code,
        404
    );
    sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn create_get_update_conflict_and_noop() {
    let (sb, _dir) = start(SandboxOptions::default()).await;
    let created = post(&sb, CMS, &cm("a", json!({}))).await;
    assert_eq!(created.code, 201);
    let obj = created.json();
    assert!(obj["metadata"]["uid"].is_string());
    assert!(obj["metadata"]["creationTimestamp"].is_string());
    let again = post(&sb, CMS, &cm("a", json!({}))).await;
    assert_eq!(again.code, 409);
    assert_eq!(again.json()["reason"], "AlreadyExists");
    assert_eq!(again.json()["message"], "configmaps \"a\" already exists");

    let mut changed = obj.clone();
    changed["data"]["k"] = json!("w");
    let updated = put(&sb, &format!("{CMS}/a"), &changed).await;
    assert_eq!(updated.code, 200);
    let updated = updated.json();
    assert!(rv(&updated) > rv(&obj));
    assert_eq!(updated["metadata"]["uid"], obj["metadata"]["uid"]);

    // the stale resourceVersion of `changed` now conflicts
    let stale = put(&sb, &format!("{CMS}/a"), &changed).await;
    assert_eq!(stale.code, 409);
    assert_eq!(
        stale.json()["message"],
        "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // writing the same object again changes nothing, not even the resourceVersion
    let same = put(&sb, &format!("{CMS}/a"), &updated).await.json();
    assert_eq!(rv(&same), rv(&updated));

    let stale_delete = call(
        &sb,
        "DELETE",
        &format!("{CMS}/a"),
        "application/json",
        &json!({"preconditions": {"resourceVersion": "1"}}).to_string(),
    )
    .await;
    assert_eq!(stale_delete.code, 409);
    assert_eq!(
        stale_delete.json()["message"],
        format!(
            "Operation cannot be fulfilled on configmaps \"a\": Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: {}",
            rv(&updated)
        )
    );

    let missing = get(&sb, &format!("{CMS}/zzz")).await;
    assert_eq!(missing.code, 404);
    assert_eq!(missing.json()["message"], "configmaps \"zzz\" not found");

    let url_mismatch = put(&sb, &format!("{CMS}/b"), &updated).await;
    assert_eq!(url_mismatch.code, 400);
    sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn namespace_must_exist_and_dry_run_stores_nothing() {
    let (sb, _dir) = start(SandboxOptions::default()).await;
    let r = post(
        &sb,
        "/api/v1/namespaces/nope/configmaps",
        &cm("a", json!({})),
    )
    .await;
    assert_eq!(r.code, 404);
    assert_eq!(r.json()["message"], "namespaces \"nope\" not found");

    let before = rv(&get(&sb, CMS).await.json());
    let dry = post(&sb, &format!("{CMS}?dryRun=All"), &cm("d", json!({}))).await;
    assert_eq!(dry.code, 201);
    assert_eq!(dry.json()["metadata"]["name"], "d");
    assert_eq!(get(&sb, &format!("{CMS}/d")).await.code, 404);
    assert_eq!(rv(&get(&sb, CMS).await.json()), before);

    let gen_name = json!({"metadata": {"generateName": "web-"}, "data": {}});
    let made = post(&sb, CMS, &gen_name).await.json();
    let name = made["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("web-") && name.len() == 9, "{name}");
    sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn list_selectors_and_chunks() {
    let (sb, _dir) = start(SandboxOptions::default()).await;
    for (name, tier) in [
        ("a", "web"),
        ("b", "db"),
        ("c", "web"),
        ("d", "cache"),
        ("e", "web"),
    ] {
        assert_eq!(
            post(&sb, CMS, &cm(name, json!({"tier": tier}))).await.code,
            201
        );
    }
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let web = get(&sb, &format!("{CMS}?labelSelector=tier%3Dweb"))
        .await
        .json();
    assert_eq!(names(&web), ["a", "c", "e"]);
    let notin = get(&sb, &format!("{CMS}?labelSelector=tier%20notin%20(web,db)"))
        .await
        .json();
    assert_eq!(names(&notin), ["d"]);
    let by_name = get(&sb, &format!("{CMS}?fieldSelector=metadata.name%3Db"))
        .await
        .json();
    assert_eq!(names(&by_name), ["b"]);
    let bad = get(&sb, &format!("{CMS}?fieldSelector=spec.x%3D1")).await;
    assert_eq!(bad.code, 400);

    let page1 = get(&sb, &format!("{CMS}?limit=2")).await.json();
    assert_eq!(names(&page1), ["a", "b"]);
    assert_eq!(page1["metadata"]["remainingItemCount"], 3);
    let token = page1["metadata"]["continue"].as_str().unwrap();
    let page2 = get(&sb, &format!("{CMS}?limit=2&continue={token}"))
        .await
        .json();
    assert_eq!(names(&page2), ["c", "d"]);
    let token = page2["metadata"]["continue"].as_str().unwrap();
    let page3 = get(&sb, &format!("{CMS}?limit=2&continue={token}"))
        .await
        .json();
    assert_eq!(names(&page3), ["e"]);
    assert!(page3["metadata"].get("continue").is_none());

    // deletecollection with a selector
    let deleted = call(
        &sb,
        "DELETE",
        &format!("{CMS}?labelSelector=tier%3Dweb"),
        "application/json",
        "",
    )
    .await;
    assert_eq!(deleted.code, 200);
    assert_eq!(names(&get(&sb, CMS).await.json()), ["b", "d"]);
    sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn watch_from_a_resource_version_and_with_initial_events() {
    let (sb, _dir) = start(SandboxOptions::default()).await;
    let first = post(&sb, CMS, &cm("a", json!({"app": "x"}))).await.json();
    let from = rv(&first);
    post(&sb, CMS, &cm("b", json!({"app": "y"}))).await;
    call(&sb, "DELETE", &format!("{CMS}/a"), "application/json", "").await;

    let resumed = get(
        &sb,
        &format!("{CMS}?watch=true&resourceVersion={from}&timeoutSeconds=1"),
    )
    .await;
    let events = resumed.events();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["ADDED", "DELETED"]);
    assert_eq!(events[0]["object"]["metadata"]["name"], "b");
    assert_eq!(events[1]["object"]["metadata"]["name"], "a");

    let initial = get(
        &sb,
        &format!("{CMS}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1"),
    )
    .await
    .events();
    assert_eq!(initial[0]["type"], "ADDED");
    assert_eq!(initial[0]["object"]["metadata"]["name"], "b");
    assert_eq!(initial[1]["type"], "BOOKMARK");
    assert_eq!(
        initial[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );

    let filtered = get(
        &sb,
        &format!(
            "{CMS}?watch=true&labelSelector=app%3Dx&resourceVersion={}&timeoutSeconds=1",
            from - 1
        ),
    )
    .await;
    assert_eq!(filtered.events().len(), 2, "ADDED and DELETED of a only");
    sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn state_survives_restart_and_old_watches_get_410() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.jsonl");
    let opts = SandboxOptions {
        state: Some(state.clone()),
        ..SandboxOptions::default()
    };
    let (sb, _d1) = start(opts.clone()).await;
    let a = post(&sb, CMS, &cm("a", json!({}))).await.json();
    let last = rv(&post(&sb, CMS, &cm("b", json!({}))).await.json());
    sb.shutdown().await.unwrap();

    let (sb, _d2) = start(opts).await;
    let got = get(&sb, &format!("{CMS}/a")).await.json();
    assert_eq!(got["metadata"]["uid"], a["metadata"]["uid"]);
    let next = post(&sb, CMS, &cm("c", json!({}))).await.json();
    assert!(rv(&next) > last, "resourceVersion went backwards");
    let old = get(
        &sb,
        &format!(
            "{CMS}?watch=true&resourceVersion={}&timeoutSeconds=1",
            rv(&a)
        ),
    )
    .await;
    let events = old.events();
    assert_eq!(events[0]["type"], "ERROR");
    assert_eq!(events[0]["object"]["code"], 410);
    assert_eq!(events[0]["object"]["reason"], "Expired");
    sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn faults_spare_health_and_version() {
    let (sb, _dir) = start(SandboxOptions {
        fail_rate: 1.0,
        ..SandboxOptions::default()
    })
    .await;
    assert_eq!(get(&sb, "/version").await.code, 200);
    let r = get(&sb, CMS).await;
    assert_eq!(r.code, 500);
    assert_eq!(r.json()["reason"], "InternalError");
    sb.shutdown().await.unwrap();

    let (sb, _dir) = start(SandboxOptions {
        throttle_rate: 1.0,
        ..SandboxOptions::default()
    })
    .await;
    let r = get(&sb, CMS).await;
    assert_eq!(r.code, 429);
    assert!(r.headers.to_ascii_lowercase().contains("retry-after: 1"));
    sb.shutdown().await.unwrap();

    let (sb, _dir) = start(SandboxOptions {
        drop_watches_after: Some(2),
        ..SandboxOptions::default()
    })
    .await;
    for n in ["a", "b", "c"] {
        post(&sb, CMS, &cm(n, json!({}))).await;
    }
    // no timeout: only the fault ends this watch
    let w = get(&sb, &format!("{CMS}?watch=true")).await;
    assert_eq!(w.events().len(), 2);
    sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn status_and_scale_subresources() {
    let (sb, _dir) = start(SandboxOptions {
        rollout_delay_ms: 60_000,
        ..SandboxOptions::default()
    })
    .await;
    let deploys = "/apis/apps/v1/namespaces/default/deployments";
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
        "status": {"replicas": 99}});
    let created = post(&sb, deploys, &d).await;
    assert_eq!(
        created.code,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let created = created.json();
    assert_eq!(created["metadata"]["generation"], 1);
    assert!(
        created["status"].get("replicas").is_none(),
        "status is reset on create"
    );

    let scale = get(&sb, &format!("{deploys}/web/scale")).await.json();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 2);
    assert_eq!(scale["status"]["selector"], "app=web");

    let mut new_scale = scale.clone();
    new_scale["spec"]["replicas"] = json!(5);
    let r = put(&sb, &format!("{deploys}/web/scale"), &new_scale).await;
    assert_eq!(r.code, 200);
    let after = get(&sb, &format!("{deploys}/web")).await.json();
    assert_eq!(after["spec"]["replicas"], 5);
    assert_eq!(after["metadata"]["generation"], 2);

    let mut status_write = after.clone();
    status_write["status"] = json!({"replicas": 5});
    status_write["spec"]["replicas"] = json!(7);
    let r = put(&sb, &format!("{deploys}/web/status"), &status_write)
        .await
        .json();
    assert_eq!(r["status"]["replicas"], 5);
    assert_eq!(r["spec"]["replicas"], 5, "status writes leave spec alone");
    assert_eq!(r["metadata"]["generation"], 2);
    sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_objects() {
    let (sb, _dir) = start(SandboxOptions::default()).await;
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
    let created = post(&sb, "/api/v1/namespaces", &ns).await.json();
    assert_eq!(created["status"]["phase"], "Active");
    assert_eq!(
        created["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "shop"
    );
    post(
        &sb,
        "/api/v1/namespaces/shop/configmaps",
        &cm("a", json!({})),
    )
    .await;
    let r = call(
        &sb,
        "DELETE",
        "/api/v1/namespaces/shop",
        "application/json",
        "",
    )
    .await;
    assert_eq!(r.code, 200);
    assert_eq!(r.json()["status"]["phase"], "Terminating");
    assert!(r.json()["metadata"]["deletionTimestamp"].is_string());
    // Terminating: its objects are still there and can be deleted, nothing new gets in
    let refused = post(
        &sb,
        "/api/v1/namespaces/shop/configmaps",
        &cm("b", json!({})),
    )
    .await;
    assert_eq!(refused.code, 403);
    assert_eq!(
        refused.json()["message"],
        "configmaps \"b\" is forbidden: unable to create new content in namespace shop because it is being terminated"
    );
    assert_eq!(
        get(&sb, "/api/v1/namespaces/shop/configmaps/a").await.code,
        200
    );
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if get(&sb, "/api/v1/namespaces/shop").await.code == 404 {
            gone = true;
            break;
        }
    }
    assert!(gone, "the namespace controller removes it");
    assert_eq!(
        get(&sb, "/api/v1/namespaces/shop/configmaps/a").await.code,
        404
    );
    let forbidden = call(
        &sb,
        "DELETE",
        "/api/v1/namespaces/default",
        "application/json",
        "",
    )
    .await;
    assert_eq!(forbidden.code, 403);
    sb.shutdown().await.unwrap();
}

async fn call_accept(sb: &Sandbox, path: &str, accept: &str) -> Answer {
    let mut stream = tokio::net::TcpStream::connect(sb.addr()).await.unwrap();
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    Answer {
        code: String::from_utf8_lossy(&raw[9..12]).parse().unwrap(),
        headers: String::from_utf8_lossy(&raw[..split]).to_string(),
        body: raw[split + 4..].to_vec(),
    }
}

#[tokio::test]
async fn deployment_status_follows_spec_after_the_rollout_delay() {
    let (sb, _dir) = start(SandboxOptions {
        rollout_delay_ms: 50,
        ..SandboxOptions::default()
    })
    .await;
    let deploys = "/apis/apps/v1/namespaces/default/deployments";
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}});
    let created = post(&sb, deploys, &d).await.json();
    assert_eq!(
        created["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    let mut converged = Value::Null;
    for _ in 0..60 {
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        let now = get(&sb, &format!("{deploys}/web")).await.json();
        if now["status"]["observedGeneration"] == 1 {
            converged = now;
            break;
        }
    }
    assert_eq!(converged["status"]["replicas"], 3, "{converged:#}");
    assert!(
        rv(&converged) > rv(&created),
        "a status write bumps the resourceVersion"
    );
    sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn crd_serves_its_kind_at_once() {
    let (sb, _dir) = start(SandboxOptions::default()).await;
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wg"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}]}});
    let made = post(
        &sb,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &crd,
    )
    .await;
    assert_eq!(made.code, 201, "{}", String::from_utf8_lossy(&made.body));
    let made = made.json();
    let conditions: Vec<&str> = made["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "True")
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert!(conditions.contains(&"Established") && conditions.contains(&"NamesAccepted"));
    let list = get(&sb, "/apis/example.com/v1").await.json();
    assert_eq!(list["resources"][0]["name"], "widgets");
    let w = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w1"}, "spec": {"size": 1}});
    let created = post(&sb, "/apis/example.com/v1/namespaces/default/widgets", &w).await;
    assert_eq!(created.code, 201);
    assert_eq!(created.json()["metadata"]["generation"], 1);
    let groups = get(&sb, "/apis").await.json();
    assert!(
        groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "example.com")
    );
    sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn apply_conflicts_and_tables_and_metadata_shapes() {
    let (sb, _dir) = start(SandboxOptions::default()).await;
    let path = format!("{CMS}/cfg");
    let apply = |manager: &'static str, value: &'static str, force: bool| {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cfg"}, "data": {"k": value}})
        .to_string();
        let p = format!("{path}?fieldManager={manager}&force={force}");
        let sb = &sb;
        async move { call(sb, "PATCH", &p, "application/apply-patch+yaml", &body).await }
    };
    let first = apply("alice", "1", false).await;
    assert_eq!(first.code, 201);
    let again = apply("alice", "1", false).await;
    assert_eq!(
        rv(&again.json()),
        rv(&first.json()),
        "an apply that changes nothing"
    );
    let clash = apply("bob", "2", false).await;
    assert_eq!(clash.code, 409);
    assert_eq!(
        clash.json()["message"],
        "Apply failed with 1 conflict: conflict with \"alice\": .data.k"
    );
    assert_eq!(apply("bob", "2", true).await.code, 200);

    let table = call_accept(
        &sb,
        CMS,
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    )
    .await;
    assert!(table.headers.contains("as=Table"), "{}", table.headers);
    assert_eq!(table.json()["kind"], "Table");
    let meta = call_accept(
        &sb,
        CMS,
        "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
    )
    .await
    .json();
    assert_eq!(meta["kind"], "PartialObjectMetadataList");
    assert_eq!(meta["items"][0]["metadata"]["name"], "cfg");
    assert!(meta["items"][0].get("data").is_none());
    sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn unfinished_rollouts_resume_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.jsonl");
    let slow = SandboxOptions {
        state: Some(state.clone()),
        rollout_delay_ms: 600_000,
        ..SandboxOptions::default()
    };
    let (sb, _d1) = start(slow.clone()).await;
    let deploys = "/apis/apps/v1/namespaces/default/deployments";
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}});
    assert_eq!(post(&sb, deploys, &d).await.code, 201);
    sb.shutdown().await.unwrap();

    let (sb, _d2) = start(SandboxOptions {
        rollout_delay_ms: 20,
        ..slow
    })
    .await;
    let mut observed = Value::Null;
    for _ in 0..80 {
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        observed = get(&sb, &format!("{deploys}/web")).await.json()["status"]["observedGeneration"]
            .clone();
        if observed == 1 {
            break;
        }
    }
    assert_eq!(observed, 1);
    sb.shutdown().await.unwrap();
}
