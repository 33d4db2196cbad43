//! Writing beside a controller (SPEC §11): `sync` of resources that a live Flux Kustomization
//! or Argo CD Application reconciles asks that controller (Flux: the
//! `reconcile.fluxcd.io/requestedAt` annotation, as `flux reconcile` sets it; Argo CD: a sync
//! operation on the Application, as `argocd app sync` sets it) instead of applying them; a
//! rollback of them is refused without `--suspend`, which suspends the controller first, then
//! applies them here and says how to resume. The real Flux and Argo CD CRDs are installed; the
//! controllers' status is written as they write it (see tests/cli_ownership.rs).

mod cli_env;
mod common;

use cli_env::{EnvRepo, Gitops, install_crd};
use common::TestCluster;
use serde_json::Value;

fn install_kustomization_crd(cluster: &TestCluster) {
    install_crd(
        cluster,
        "flux/kustomize.toolkit.fluxcd.io_kustomizations.yaml",
        "kustomizations.kustomize.toolkit.fluxcd.io",
    );
}

fn install_application_crd(cluster: &TestCluster) {
    install_crd(
        cluster,
        "argocd/application-crd.yaml",
        "applications.argoproj.io",
    );
}

/// The Kustomization `<ns>/apps` (standing for flux-system/apps: each test has its namespace)
/// that applies `./apps` of this repo.
fn kustomization(ns: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: {ns}\nspec:\n  interval: 10m\n  path: ./apps\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
    )
}

fn config_map(ns: &str, name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  a: \"{value}\"\n"
    )
}

/// `settings` as kustomize-controller applied it: with its owner labels.
fn flux_applied(ns: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {ns}\n  labels:\n    kustomize.toolkit.fluxcd.io/name: apps\n    kustomize.toolkit.fluxcd.io/namespace: {ns}\ndata:\n  a: \"{value}\"\n"
    )
}

/// A repo with two commits of `clusters/` (the Kustomization and a plain ConfigMap `plain`)
/// and `apps/settings.yaml` (the Kustomization's): `a: "1"`, then `a: "2"`. Returns the shas.
fn flux_repo(ns: &str) -> (EnvRepo, String, String) {
    let mut repo = EnvRepo::new();
    let first = repo.commit(
        "apps at 1",
        &[
            ("clusters/ks.yaml", &kustomization(ns)),
            ("clusters/plain.yaml", &config_map(ns, "plain", "1")),
            ("apps/settings.yaml", &config_map(ns, "settings", "1")),
        ],
    );
    let second = repo.commit(
        "apps at 2",
        &[
            ("clusters/plain.yaml", &config_map(ns, "plain", "2")),
            ("apps/settings.yaml", &config_map(ns, "settings", "2")),
        ],
    );
    (repo, first, second)
}

/// The Kustomization live, its `settings` as it applied it at `value`, and its status saying
/// it applied `revision` (kustomize-controller's `main@sha1:<sha>`).
fn flux_live(cluster: &TestCluster, ns: &str, value: &str, revision: &str) {
    cluster.apply(&kustomization(ns)).success();
    cluster.apply(&flux_applied(ns, value)).success();
    let status = serde_json::json!({"status": {
        "lastAppliedRevision": format!("main@sha1:{revision}"),
        "inventory": {"entries": [{"id": format!("{ns}_settings__ConfigMap"), "v": "v1"}]},
    }});
    cluster
        .kubectl(&[
            "patch",
            "kustomization",
            "apps",
            "--subresource=status",
            "--type=merge",
            "-p",
            &status.to_string(),
        ])
        .success();
}

fn live(cluster: &TestCluster, what: &[&str]) -> Value {
    cluster.get_json(what)
}

fn exists(cluster: &TestCluster, what: &[&str]) -> bool {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    cluster.kubectl(&args).code() == 0
}

fn resource<'a>(doc: &'a Value, kind: &str, name: &str) -> &'a Value {
    doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == kind && r["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in {doc:#}"))
}

fn requested_at(kustomization: &Value) -> Option<&str> {
    kustomization
        .pointer("/metadata/annotations")
        .and_then(|a| a.get("reconcile.fluxcd.io/requestedAt"))
        .and_then(Value::as_str)
}

#[test]
fn sync_of_flux_owned_resources_asks_the_kustomization_and_applies_the_rest() {
    let cluster = TestCluster::start();
    install_kustomization_crd(&cluster);
    let ns = cluster.namespace().to_owned();
    let (repo, first, second) = flux_repo(&ns);
    flux_live(&cluster, &ns, "1", &first);
    let gitops = Gitops::new(&cluster, &repo);

    // Dry run: says what it would ask, writes nothing.
    let dry = gitops
        .run(&["--path", "clusters", "sync", "--dry-run", "-o", "json"])
        .code_is(1);
    let doc = dry.json();
    let settings = resource(&doc, "ConfigMap", "settings");
    assert_eq!(settings["result"], "requested", "{doc:#}");
    assert_eq!(
        settings["owner"],
        format!("Kustomization {ns}/apps").as_str(),
        "{doc:#}"
    );
    assert_eq!(resource(&doc, "ConfigMap", "plain")["result"], "created");
    let controllers = doc["controllers"].as_array().unwrap();
    assert_eq!(controllers.len(), 1, "{doc:#}");
    assert_eq!(controllers[0]["kind"], "Kustomization");
    assert_eq!(controllers[0]["name"], "apps");
    assert_eq!(controllers[0]["step"], "reconcile");
    assert_eq!(controllers[0]["trackedRevision"], first.as_str());
    assert!(requested_at(&live(&cluster, &["kustomization", "apps"])).is_none());
    assert!(!exists(&cluster, &["configmap", "plain"]));

    let text = gitops
        .run(&["--path", "clusters", "sync", "--dry-run"])
        .code_is(1);
    assert!(
        text.stdout.contains(&format!(
            "Kustomization {ns}/apps: would be asked to reconcile"
        )),
        "{text}"
    );

    let run = gitops
        .run(&["--path", "clusters", "sync", "--yes", "-o", "json"])
        .code_is(0);
    let doc = run.json();
    assert_eq!(
        resource(&doc, "ConfigMap", "settings")["result"],
        "requested"
    );
    assert_eq!(resource(&doc, "ConfigMap", "plain")["result"], "created");
    let controller = &doc["controllers"][0];
    assert_eq!(controller["result"], "requested", "{doc:#}");
    assert_eq!(
        controller["members"],
        serde_json::json!([format!("core/ConfigMap/{ns}/settings")]),
        "{doc:#}"
    );
    // HEAD is not what it applied: the note says HEAD must be pushed.
    assert!(
        controller["notes"][0]
            .as_str()
            .unwrap()
            .contains(&second[..7]),
        "{doc:#}"
    );

    // The Kustomization was asked as `flux reconcile` asks: an RFC 3339 time.
    let ks = live(&cluster, &["kustomization", "apps"]);
    let at = requested_at(&ks).unwrap_or_else(|| panic!("no requestedAt: {ks:#}"));
    assert!(
        chrono::DateTime::parse_from_rfc3339(at).is_ok(),
        "requestedAt {at:?} is not RFC 3339"
    );
    // What it reconciles was not applied here; the plain ConfigMap was.
    let settings = live(&cluster, &["configmap", "settings"]);
    assert_eq!(settings["data"]["a"], "1", "{settings:#}");
    assert!(
        settings
            .pointer("/metadata/annotations/kubectl-gitops.io~1revision")
            .is_none(),
        "{settings:#}"
    );
    let plain = live(&cluster, &["configmap", "plain"]);
    assert_eq!(plain["data"]["a"], "2", "{plain:#}");
    assert_eq!(
        plain["metadata"]["annotations"]["kubectl-gitops.io/revision"],
        second.as_str()
    );
}

#[test]
fn rollback_of_flux_owned_resources_needs_suspend() {
    let cluster = TestCluster::start();
    install_kustomization_crd(&cluster);
    let ns = cluster.namespace().to_owned();
    let (repo, first, second) = flux_repo(&ns);
    flux_live(&cluster, &ns, "2", &second);
    let gitops = Gitops::new(&cluster, &repo);

    let before = live(&cluster, &["kustomization", "apps"]);
    let refused = gitops
        .run(&["--path", "clusters", "sync", "--yes", "--rev", &first])
        .code_is(2);
    let owner = format!("Kustomization {ns}/apps");
    for needle in [
        owner.as_str(),
        "--suspend",
        "kubectl gitops revert",
        "Nothing written",
    ] {
        assert!(refused.stderr.contains(needle), "{needle}: {refused}");
    }
    // Nothing changed: the object, the plain ConfigMap, the Kustomization.
    assert_eq!(live(&cluster, &["configmap", "settings"])["data"]["a"], "2");
    assert!(!exists(&cluster, &["configmap", "plain"]));
    let after = live(&cluster, &["kustomization", "apps"]);
    assert_eq!(
        after["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"],
        "{after:#}"
    );
    assert!(after.pointer("/spec/suspend").is_none(), "{after:#}");

    // A dry run is refused alike and writes nothing.
    gitops
        .run(&["--path", "clusters", "sync", "--dry-run", "--rev", &first])
        .code_is(2);
    // With --suspend, the dry run says it would suspend it and apply here; still no write.
    let doc = gitops
        .run(&[
            "--path",
            "clusters",
            "sync",
            "--dry-run",
            "--rev",
            &first,
            "--suspend",
            "-o",
            "json",
        ])
        .code_is(1)
        .json();
    let controller = &doc["controllers"][0];
    assert_eq!(controller["step"], "suspend", "{doc:#}");
    assert_eq!(controller["trackedRevision"], second.as_str(), "{doc:#}");
    assert_eq!(
        controller["resume"],
        format!("flux resume kustomization apps -n {ns}").as_str(),
        "{doc:#}"
    );
    let planned = resource(&doc, "ConfigMap", "settings");
    assert_eq!(planned["result"], "configured", "{doc:#}");
    assert_eq!(planned["owner"], owner.as_str(), "{doc:#}");
    assert_eq!(
        live(&cluster, &["kustomization", "apps"])["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );

    let run = gitops
        .run(&[
            "--path",
            "clusters",
            "sync",
            "--yes",
            "--rev",
            &first,
            "--suspend",
        ])
        .code_is(0);
    let resume = format!("resume it with: flux resume kustomization apps -n {ns}");
    assert!(run.stdout.contains(&resume), "{run}");
    assert!(
        run.stdout
            .contains(&format!("{owner}: suspended (spec.suspend: true)")),
        "{run}"
    );
    assert!(
        run.stderr
            .contains(&format!("{owner}: suspending it before applying")),
        "{run}"
    );
    let ks = live(&cluster, &["kustomization", "apps"]);
    assert_eq!(ks["spec"]["suspend"], true, "{ks:#}");
    assert!(requested_at(&ks).is_none(), "{ks:#}");
    let settings = live(&cluster, &["configmap", "settings"]);
    assert_eq!(settings["data"]["a"], "1", "{settings:#}");
    assert_eq!(
        settings["metadata"]["annotations"]["kubectl-gitops.io/revision"],
        first.as_str()
    );
    assert_eq!(live(&cluster, &["configmap", "plain"])["data"]["a"], "1");

    // Suspended now: a sync of HEAD applies here too (a reconcile request would do nothing)
    // and reminds how to resume.
    let doc = gitops
        .run(&["--path", "clusters", "sync", "--yes", "-o", "json"])
        .code_is(0)
        .json();
    assert_eq!(doc["controllers"][0]["step"], "suspended", "{doc:#}");
    assert_eq!(doc["controllers"][0]["result"], "unchanged", "{doc:#}");
    assert_eq!(
        doc["controllers"][0]["resume"],
        format!("flux resume kustomization apps -n {ns}").as_str()
    );
    assert_eq!(
        resource(&doc, "ConfigMap", "settings")["result"],
        "configured"
    );
    assert_eq!(live(&cluster, &["configmap", "settings"])["data"]["a"], "2");
}

/// An Application `<app>` of this repo's `guestbook` directory with automated sync, and the
/// repo: `clusters/app.yaml` and `guestbook/cm.yaml` at two commits.
fn argo_repo(ns: &str, app: &str) -> (EnvRepo, String, String, String) {
    let application = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {app}\n  namespace: {ns}\nspec:\n  project: default\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: {ns}\n  source:\n    repoURL: https://example.com/env.git\n    path: guestbook\n    targetRevision: HEAD\n  syncPolicy:\n    automated:\n      prune: true\n      selfHeal: true\n"
    );
    let mut repo = EnvRepo::new();
    let first = repo.commit(
        "guestbook at 1",
        &[
            ("clusters/app.yaml", &application),
            ("guestbook/cm.yaml", &config_map(ns, "guestbook", "1")),
        ],
    );
    let second = repo.commit(
        "guestbook at 2",
        &[("guestbook/cm.yaml", &config_map(ns, "guestbook", "2"))],
    );
    (repo, application, first, second)
}

/// The Application live with Argo CD's status (no status subresource: written with the
/// object) saying it synced `revision`, and its ConfigMap as it applied it (tracking id,
/// argo-cd `BuildAppInstanceValue`).
fn argo_live(
    cluster: &TestCluster,
    ns: &str,
    app: &str,
    application: &str,
    value: &str,
    revision: &str,
) {
    cluster
        .apply(&format!(
            "{application}status:\n  sync:\n    status: Synced\n    revision: {revision}\n"
        ))
        .success();
    cluster
        .apply(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: guestbook\n  namespace: {ns}\n  annotations:\n    argocd.argoproj.io/tracking-id: {app}:/ConfigMap:{ns}/guestbook\ndata:\n  a: \"{value}\"\n"
        ))
        .success();
}

#[test]
fn sync_of_argo_owned_resources_sets_a_sync_operation_of_the_revision() {
    let cluster = TestCluster::start();
    install_application_crd(&cluster);
    let ns = cluster.namespace().to_owned();
    let app = cluster.unique_name("guestbook");
    let (repo, application, first, second) = argo_repo(&ns, &app);
    argo_live(&cluster, &ns, &app, &application, "1", &first);
    let gitops = Gitops::new(&cluster, &repo);

    let doc = gitops
        .run(&[
            "--path",
            "clusters",
            "sync",
            "--yes",
            "-o",
            "json",
            "cm/guestbook",
        ])
        .code_is(0)
        .json();
    assert_eq!(
        resource(&doc, "ConfigMap", "guestbook")["result"],
        "requested",
        "{doc:#}"
    );
    let controller = &doc["controllers"][0];
    assert_eq!(
        (
            &controller["kind"],
            &controller["name"],
            &controller["result"]
        ),
        (
            &"Application".into(),
            &app.as_str().into(),
            &"requested".into()
        ),
        "{doc:#}"
    );
    let live_app = live(&cluster, &["application", &app]);
    let operation = &live_app["operation"];
    assert_eq!(
        operation["initiatedBy"]["username"], "kubectl-gitops",
        "{live_app:#}"
    );
    assert_eq!(
        operation["sync"]["revision"],
        second.as_str(),
        "{live_app:#}"
    );
    // Only the targeted resource, as `argocd app sync --resource` asks.
    assert_eq!(
        operation["sync"]["resources"],
        serde_json::json!([{"group": "", "kind": "ConfigMap", "name": "guestbook", "namespace": ns}]),
        "{live_app:#}"
    );
    assert_eq!(
        live(&cluster, &["configmap", "guestbook"])["data"]["a"],
        "1"
    );

    // An operation in progress: another one is refused, nothing written.
    let refused = gitops
        .run(&["--path", "clusters", "sync", "--yes", "cm/guestbook"])
        .code_is(2);
    assert!(refused.stderr.contains("in progress"), "{refused}");
}

#[test]
fn rollback_of_argo_owned_resources_turns_off_automated_sync_with_suspend() {
    let cluster = TestCluster::start();
    install_application_crd(&cluster);
    let ns = cluster.namespace().to_owned();
    let app = cluster.unique_name("guestbook");
    let (repo, application, first, second) = argo_repo(&ns, &app);
    argo_live(&cluster, &ns, &app, &application, "2", &second);
    let gitops = Gitops::new(&cluster, &repo);

    let refused = gitops
        .run(&["--path", "clusters", "sync", "--yes", "--rev", &first])
        .code_is(2);
    assert!(
        refused.stderr.contains(&format!("Application {ns}/{app}")),
        "{refused}"
    );
    assert!(refused.stderr.contains("--suspend"), "{refused}");
    let unchanged = live(&cluster, &["application", &app]);
    assert!(
        unchanged.pointer("/spec/syncPolicy/automated").is_some(),
        "{unchanged:#}"
    );
    assert!(unchanged.get("operation").is_none(), "{unchanged:#}");
    assert_eq!(
        live(&cluster, &["configmap", "guestbook"])["data"]["a"],
        "2"
    );

    let run = gitops
        .run(&[
            "--path",
            "clusters",
            "sync",
            "--yes",
            "--rev",
            &first,
            "--suspend",
        ])
        .code_is(0);
    let live_app = live(&cluster, &["application", &app]);
    // Turned off, and the Application applied from git did not turn it on again.
    assert!(
        live_app.pointer("/spec/syncPolicy/automated").is_none(),
        "{live_app:#}"
    );
    assert!(live_app.get("operation").is_none(), "{live_app:#}");
    let cm = live(&cluster, &["configmap", "guestbook"]);
    assert_eq!(cm["data"]["a"], "1", "{cm:#}");
    let restore = format!(
        "kubectl patch application {app} -n {ns} --type=merge -p '{{\"spec\":{{\"syncPolicy\":{{\"automated\":{{\"prune\":true,\"selfHeal\":true}}}}}}}}'"
    );
    assert!(run.stdout.contains(&restore), "{run}");
    assert!(run.stdout.contains("automated sync turned off"), "{run}");

    // The printed patch restores it.
    let patch = restore.split("-p '").nth(1).unwrap().trim_end_matches('\'');
    cluster
        .kubectl(&["patch", "application", &app, "--type=merge", "-p", patch])
        .success();
    let restored = live(&cluster, &["application", &app]);
    assert_eq!(
        restored["spec"]["syncPolicy"]["automated"],
        serde_json::json!({"prune": true, "selfHeal": true})
    );
}

/// A user allowed to read the Kustomization but not to patch it: the reconcile request is
/// refused in preflight, naming the object and the permission to grant, and nothing is
/// written. Needs RBAC, so a real API server (the sandbox authorizes every request).
#[test]
fn a_controller_that_may_not_be_patched_is_refused_in_preflight() {
    let cluster = TestCluster::start();
    if !cluster.is_real() {
        eprintln!("the sandbox has no RBAC: this test runs against a real API server only");
        return;
    }
    install_kustomization_crd(&cluster);
    let ns = cluster.namespace().to_owned();
    let (mut repo, first, _) = flux_repo(&ns);
    // The ApplySet parent in the test namespace, where the user may read it.
    repo.commit(
        "applyset here",
        &[(
            "clusters/.kubectl-gitops.yaml",
            &format!("applySet:\n  namespace: {ns}\n"),
        )],
    );
    flux_live(&cluster, &ns, "1", &first);
    let user = cluster.unique_name("kgo-limited");
    cluster
        .apply(&format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: {user}\n  namespace: {ns}\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get, list, watch, create, patch]\n- apiGroups: [kustomize.toolkit.fluxcd.io]\n  resources: [kustomizations]\n  verbs: [get, list, watch]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: {user}\n  namespace: {ns}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: {user}\nsubjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: {user}\n"
        ))
        .success();
    // The same kubeconfig (its current context alone), impersonating that user (`as`, as
    // `kubectl --as` sends it).
    let mut kubeconfig = cluster
        .kubectl_raw(&["config", "view", "--flatten", "--minify", "-o", "json"])
        .success()
        .json();
    kubeconfig["users"][0]["user"]["as"] = Value::String(user.clone());
    let limited = cluster.scratch().join("limited-kubeconfig");
    std::fs::write(&limited, kubeconfig.to_string()).unwrap();
    let config = limited.to_str().unwrap();

    let gitops = Gitops::new(&cluster, &repo);
    let refused = gitops
        .run_env(
            &["--path", "clusters", "sync", "--yes", "cm/settings"],
            &[("KUBECONFIG", config)],
        )
        .code_is(2);
    for needle in [
        format!("cannot ask Kustomization {ns}/apps"),
        format!("grant patch on kustomizations in namespace {ns}"),
    ] {
        assert!(refused.stderr.contains(&needle), "{needle}: {refused}");
    }
    let ks = live(&cluster, &["kustomization", "apps"]);
    assert!(requested_at(&ks).is_none(), "{ks:#}");
    assert_eq!(live(&cluster, &["configmap", "settings"])["data"]["a"], "1");
    assert!(!exists(&cluster, &["configmap", "kubectl-gitops-clusters"]));
}
