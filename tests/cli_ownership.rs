//! Ownership (SPEC §11): live objects that a Flux Kustomization or an Argo CD Application of
//! the environment applied are members of it — Orphaned when git no longer declares them —
//! with their owner shown and their deployed revision read from the owner's status. The real
//! Flux and Argo CD CRDs are installed; the marks are written as the controllers write them
//! (each test says where the format comes from).

mod cli_env;
mod common;

use cli_env::{EnvRepo, Gitops, helm_release_secret, history_commit_ids, install_crd};
use common::TestCluster;
use serde_json::Value;

fn resource<'a>(doc: &'a Value, kind: &str, name: &str) -> &'a Value {
    doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == kind && r["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in {doc:#}"))
}

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn kustomization(ns: &str) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: {ns}\nspec:\n  interval: 10m\n  path: ./apps\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
    )
}

/// A ConfigMap with the labels kustomize-controller sets on what it applies
/// (`kustomize.toolkit.fluxcd.io/name` and `/namespace`: fluxcd/kustomize-controller,
/// `internal/controller/kustomization_controller.go`, the owner labels of its SSA manager).
fn flux_config_map(ns: &str, name: &str, labelled: bool) -> String {
    let labels = if labelled {
        format!(
            "  labels:\n    kustomize.toolkit.fluxcd.io/name: apps\n    kustomize.toolkit.fluxcd.io/namespace: {ns}\n"
        )
    } else {
        String::new()
    };
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n{labels}data:\n  a: \"1\"\n"
    )
}

#[test]
fn flux_members_not_in_git_are_orphaned_with_their_owner_and_revision() {
    let cluster = TestCluster::start();
    install_crd(
        &cluster,
        "flux/kustomize.toolkit.fluxcd.io_kustomizations.yaml",
        "kustomizations.kustomize.toolkit.fluxcd.io",
    );
    let ns = cluster.namespace().to_owned();
    let mut repo = EnvRepo::new();
    // The Kustomization `<ns>/apps` (standing for flux-system/apps: each test has its
    // namespace) and one of the objects it applies are in git.
    repo.commit(
        "apps",
        &[
            ("ks.yaml", &kustomization(&ns)),
            ("settings.yaml", &flux_config_map(&ns, "settings", false)),
        ],
    );
    cluster.apply(&kustomization(&ns)).success();
    cluster
        .apply(&flux_config_map(&ns, "settings", true))
        .success();
    // Applied by it, since removed from git: labelled, and one only in its inventory.
    cluster
        .apply(&flux_config_map(&ns, "leftover", true))
        .success();
    cluster
        .apply(&flux_config_map(&ns, "listed", false))
        .success();
    cluster
        .apply(&flux_config_map(&ns, "stranger", false))
        .success();
    // kustomize-controller writes its status through the status subresource:
    // `lastAppliedRevision` as `<branch>@sha1:<sha>` (fluxcd/pkg `artifact` revision format)
    // and `inventory.entries[].id` as `<namespace>_<name>_<group>_<kind>` (fluxcd/cli-utils
    // `object.ObjMetadata.String`).
    let status = serde_json::json!({"status": {
        "lastAppliedRevision": format!("main@sha1:{SHA}"),
        "inventory": {"entries": [
            {"id": format!("{ns}_settings__ConfigMap"), "v": "v1"},
            {"id": format!("{ns}_leftover__ConfigMap"), "v": "v1"},
            {"id": format!("{ns}_listed__ConfigMap"), "v": "v1"},
        ]},
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

    let gitops = Gitops::new(&cluster, &repo);
    let run = gitops.run(&["status", "-o", "json"]).code_is(1);
    let doc = run.json();
    let owner = format!("Kustomization {ns}/apps");
    for name in ["leftover", "listed"] {
        let row = resource(&doc, "ConfigMap", name);
        assert_eq!(row["status"], "Orphaned", "{name}: {row:#}");
        assert_eq!(row["owner"], owner.as_str(), "{name}: {row:#}");
        assert_eq!(row["liveRevision"], SHA, "{name}: {row:#}");
    }
    let settings = resource(&doc, "ConfigMap", "settings");
    assert_eq!(settings["status"], "Synced", "{settings:#}");
    assert_eq!(settings["owner"], owner.as_str(), "{settings:#}");
    assert_eq!(settings["liveRevision"], SHA, "{settings:#}");
    // Neither labelled nor listed: no member, no row.
    assert!(
        !doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "stranger"),
        "{doc:#}"
    );

    let wide = gitops.run(&["status", "-o", "wide"]).code_is(1);
    let header: Vec<&str> = wide
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(header[7..], ["SOURCE", "LIVE-REV", "OWNER"], "{wide}");
    let leftover = wide
        .stdout
        .lines()
        .find(|l| l.contains(" leftover "))
        .unwrap_or_else(|| panic!("{wide}"));
    let cells: Vec<&str> = leftover.split_whitespace().collect();
    assert_eq!(cells[0], "Orphaned", "{wide}");
    let apps = format!("{ns}/apps");
    assert_eq!(
        cells[cells.len() - 3..],
        [&SHA[..7], "Kustomization", apps.as_str()],
        "{wide}"
    );
}

#[test]
fn argo_tracked_object_not_in_git_is_orphaned() {
    let cluster = TestCluster::start();
    install_crd(
        &cluster,
        "argocd/application-crd.yaml",
        "applications.argoproj.io",
    );
    let ns = cluster.namespace().to_owned();
    let app = cluster.unique_name("guestbook");
    let application = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {app}\n  namespace: {ns}\nspec:\n  project: default\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: {ns}\n  source:\n    repoURL: https://example.com/elsewhere.git\n    path: guestbook\n    targetRevision: HEAD\n"
    );
    let mut repo = EnvRepo::new();
    repo.commit("guestbook", &[("app.yaml", &application)]);
    // The Application CRD has no status subresource: Argo CD writes status with the object.
    let live_application =
        format!("{application}status:\n  sync:\n    status: Synced\n    revision: {SHA}\n");
    cluster.apply(&live_application).success();
    // Argo CD's tracking annotation, `<app>:<group>/<kind>:<namespace>/<name>` (argo-cd
    // `pkg/argo/resource_tracking.go`, `BuildAppInstanceValue`; the core group is empty).
    let tracked = |name: &str, tracking_name: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n  annotations:\n    argocd.argoproj.io/tracking-id: {app}:/ConfigMap:{ns}/{tracking_name}\ndata:\n  a: \"1\"\n"
        )
    };
    cluster.apply(&tracked("frontend", "frontend")).success();
    // A copy of a tracked object: its annotation names another, so Argo CD does not count it.
    cluster.apply(&tracked("copy", "frontend")).success();

    let run = Gitops::new(&cluster, &repo)
        .run(&["status", "-o", "json"])
        .code_is(1);
    let doc = run.json();
    let frontend = resource(&doc, "ConfigMap", "frontend");
    assert_eq!(frontend["status"], "Orphaned", "{frontend:#}");
    assert_eq!(
        frontend["owner"],
        format!("Application {ns}/{app}").as_str(),
        "{frontend:#}"
    );
    assert_eq!(frontend["liveRevision"], SHA, "{frontend:#}");
    assert!(
        !doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "copy"),
        "{doc:#}"
    );
}

#[test]
fn synced_resources_and_applyset_orphans_are_owned_by_the_applyset() {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let mut repo = EnvRepo::new();
    repo.commit(
        "two",
        &[
            ("a.yaml", &flux_config_map(&ns, "a", false)),
            ("b.yaml", &flux_config_map(&ns, "b", false)),
        ],
    );
    let gitops = Gitops::new(&cluster, &repo);
    gitops.run(&["sync", "--yes"]).code_is(0);
    repo.git(&["rm", "-q", "b.yaml"]);
    repo.git(&["commit", "-q", "-m", "drop b"]);
    let doc = gitops.run(&["status", "-o", "json"]).code_is(1).json();
    let a = resource(&doc, "ConfigMap", "a");
    assert_eq!(
        (&a["status"], &a["owner"]),
        (&"Synced".into(), &"ApplySet".into()),
        "{a:#}"
    );
    let b = resource(&doc, "ConfigMap", "b");
    assert_eq!(
        (&b["status"], &b["owner"]),
        (&"Orphaned".into(), &"ApplySet".into()),
        "{b:#}"
    );
}

#[test]
fn helm_release_members_are_compared_with_the_deployed_release_manifest() {
    let cluster = TestCluster::start();
    install_crd(
        &cluster,
        "flux/helm.toolkit.fluxcd.io_helmreleases.yaml",
        "helmreleases.helm.toolkit.fluxcd.io",
    );
    let ns = cluster.namespace().to_owned();
    let helm_release = format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: podinfo\n  namespace: {ns}\nspec:\n  interval: 10m\n  chart:\n    spec:\n      chart: podinfo\n      sourceRef:\n        kind: HelmRepository\n        name: podinfo\n"
    );
    // A plain ConfigMap after it in the same file: not the release's, no render error.
    let settings = format!(
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {ns}\ndata:\n  x: \"1\"\n"
    );
    let mut repo = EnvRepo::new();
    repo.commit(
        "podinfo",
        &[("podinfo.yaml", &format!("{helm_release}{settings}"))],
    );
    cluster.apply(&helm_release).success();
    // The release helm-controller made (default name and storage namespace: the
    // HelmRelease's), its manifest without namespaces as Helm renders it.
    let manifest = "---\n# Source: podinfo/templates/config.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: podinfo-config\ndata:\n  replicas: \"3\"\n---\n# Source: podinfo/templates/extra.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: podinfo-extra\ndata:\n  a: \"1\"\n";
    cluster
        .apply(&helm_release_secret(
            &ns, "podinfo", 1, "deployed", manifest,
        ))
        .success();
    // helm-controller labels what it applies with `helm.toolkit.fluxcd.io/name` and
    // `/namespace` (fluxcd/helm-controller `internal/postrender` origin labels).
    let live = |name: &str, data: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    helm.toolkit.fluxcd.io/name: podinfo\n    helm.toolkit.fluxcd.io/namespace: {ns}\ndata:\n{data}"
        )
    };
    cluster
        .apply(&live("podinfo-config", "  replicas: \"5\"\n"))
        .success();
    cluster
        .apply(&live("podinfo-extra", "  a: \"1\"\n"))
        .success();
    cluster
        .apply(&live("podinfo-gone", "  a: \"1\"\n"))
        .success();

    // The chart cannot be rendered here (its HelmRepository is not in the environment): that
    // release is one render error (exit 2), and its objects are compared with the manifest
    // its deployed release holds.
    let doc = Gitops::new(&cluster, &repo)
        .run(&["status", "-o", "json"])
        .code_is(2)
        .json();
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]
            .as_str()
            .unwrap()
            .contains(&format!("HelmRelease {ns}/podinfo")),
        "{errors:?}"
    );
    let owner = format!("HelmRelease {ns}/podinfo");
    let config = resource(&doc, "ConfigMap", "podinfo-config");
    assert_eq!(config["status"], "Drifted", "{config:#}");
    assert_eq!(
        config["fields"],
        serde_json::json!(["data.replicas"]),
        "{config:#}"
    );
    assert_eq!(config["owner"], owner.as_str(), "{config:#}");
    assert!(config["source"].is_null(), "{config:#}");
    assert!(
        config["notes"][0]
            .as_str()
            .unwrap()
            .contains(&format!("Helm release {ns}/podinfo v1")),
        "{config:#}"
    );
    let extra = resource(&doc, "ConfigMap", "podinfo-extra");
    assert_eq!(extra["status"], "Synced", "{extra:#}");
    let gone = resource(&doc, "ConfigMap", "podinfo-gone");
    assert_eq!(gone["status"], "Orphaned", "{gone:#}");
    assert_eq!(gone["owner"], owner.as_str(), "{gone:#}");
    // The render error is on the release's row and on every row it owns (the UI shows it
    // there); the error's text is the one in `errors`.
    let release = resource(&doc, "HelmRelease", "podinfo");
    for row in [&release, &config, &extra, &gone] {
        assert_eq!(row["renderError"], errors[0], "{row:#}");
    }
    let others: Vec<&Value> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["owner"] != owner.as_str() && r["kind"] != "HelmRelease")
        .collect();
    assert!(!others.is_empty(), "{doc:#}");
    for row in others {
        assert!(row["renderError"].is_null(), "{row:#}");
    }
}

/// Blame of an object a HelmRelease's chart made (SPEC §11): online, it names the Helm release
/// revision deployed now (read from Helm's storage Secret, in Helm's encoding), and its lines
/// the values lines of the HelmRelease that set them. The chart is a directory of this repo
/// (a GitRepository source), rendered with helm.
#[test]
fn blame_of_a_chart_made_object_names_the_deployed_release_revision() {
    let cluster = TestCluster::start();
    install_crd(
        &cluster,
        "flux/helm.toolkit.fluxcd.io_helmreleases.yaml",
        "helmreleases.helm.toolkit.fluxcd.io",
    );
    install_crd(
        &cluster,
        "flux/source.toolkit.fluxcd.io_gitrepositories.yaml",
        "gitrepositories.source.toolkit.fluxcd.io",
    );
    let ns = cluster.namespace().to_owned();
    let source = format!(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: env\n  namespace: {ns}\nspec:\n  interval: 1m\n  url: https://example.com/env.git\n"
    );
    let helm_release = format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  interval: 10m\n  chart:\n    spec:\n      chart: ./charts/web\n      sourceRef:\n        kind: GitRepository\n        name: env\n  values:\n    greeting: hello-there\n"
    );
    let mut repo = EnvRepo::new();
    let made = repo.commit(
        "env",
        &[
            (
                "charts/web/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 1.0.0\n",
            ),
            (
                "charts/web/templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  greeting: {{ .Values.greeting | quote }}\n",
            ),
            ("env/source.yaml", &source),
            ("env/web.yaml", &helm_release),
        ],
    );
    cluster.apply(&helm_release).success();
    let deployed = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  greeting: \"hello-there\"\n";
    cluster
        .apply(&helm_release_secret(&ns, "web", 2, "deployed", deployed))
        .success();
    cluster
        .apply(&helm_release_secret(&ns, "web", 3, "deployed", deployed))
        .success();
    let run = Gitops::new(&cluster, &repo).run(&[
        "--path",
        "env",
        "blame",
        "cm/web-config",
        "-o",
        "json",
    ]);
    let doc = run.code_is(0).json();
    assert_eq!(
        doc["helmRelease"]["release"],
        format!("{ns}/web"),
        "{doc:#}"
    );
    assert_eq!(doc["helmRelease"]["revision"], 3, "{doc:#}");
    assert_eq!(doc["helmRelease"]["status"], "deployed", "{doc:#}");
    let greeting = doc["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["text"].as_str().unwrap().trim() == "greeting: hello-there")
        .unwrap_or_else(|| panic!("no greeting line: {doc:#}"));
    assert_eq!(greeting["values"][0]["file"], "env/web.yaml", "{doc:#}");
    assert_eq!(
        greeting["values"][0]["path"], "spec.values.greeting",
        "{doc:#}"
    );
    assert_eq!(doc["objectFrom"], "git", "{doc:#}");
    // Its history names the release too.
    let history = Gitops::new(&cluster, &repo)
        .run(&["--path", "env", "history", "cm/web-config", "-o", "json"])
        .code_is(0)
        .json();
    assert_eq!(history["helmRelease"]["revision"], 3, "{history:#}");
    assert!(history["renderError"].is_null(), "{history:#}");
    // The commit that made it: the one that added the release (and the chart).
    assert_eq!(history_commit_ids(&history), [made], "{history:#}");
    let change = &history["commits"][0]["changes"][0];
    assert_eq!(
        (&change["kind"], &change["name"], &change["change"]),
        (&"ConfigMap".into(), &"web-config".into(), &"added".into()),
        "{history:#}"
    );
    // The text names the release first.
    let text = Gitops::new(&cluster, &repo)
        .run(&["--path", "env", "blame", "cm/web-config"])
        .code_is(0);
    assert!(
        text.stdout.starts_with(&format!(
            "# Helm release {ns}/web revision 3 (deployed, chart web-1.0.0)"
        )),
        "{text}"
    );
}
