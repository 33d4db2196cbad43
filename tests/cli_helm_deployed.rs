//! Deployed Helm releases (SPEC §11): an object a HelmRelease's chart made, when the chart
//! cannot be rendered here, is read from the manifest its deployed release holds in Helm's own
//! storage (Secrets of type `helm.sh/release.v1`, written here in Helm's encoding: see
//! `cli_env::helm_release_secret`). `blame` of it names the release revision and blames each
//! line on the commit that changed the release's values; `history` of it lists those commits.
//!
//! The chart cannot be rendered, deterministically: the HelmRelease's `sourceRef` names a
//! HelmRepository the environment does not have (with or without helm on PATH).

mod cli_env;
mod common;

use cli_env::{EnvRepo, Gitops, helm_release_secret, install_crd};
use common::TestCluster;
use serde_json::Value;

/// The HelmRelease `web`, its chart from a HelmRepository that is not in the environment.
fn helm_release(ns: &str, interval: &str, greeting: &str) -> String {
    format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  interval: {interval}\n  chart:\n    spec:\n      chart: web\n      sourceRef:\n        kind: HelmRepository\n        name: charts\n  values:\n    greeting: {greeting}\n    image:\n      repository: ghcr.io/example/web\n      tag: 1.0.0\n"
    )
}

/// A Secret value of the deployed manifest: never printed, in clear or base64.
const TOKEN: &str = "secret-token-42";
const TOKEN_B64: &str = "c2VjcmV0LXRva2VuLTQy";

/// What revision 2 of release `web` deployed, as `helm template` writes it (no namespaces).
fn deployed_manifest() -> String {
    format!(
        "---\n# Source: web/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\n  labels:\n    app: web\ndata:\n  greeting: \"hello-world\"\n  image: \"ghcr.io/example/web:1.0.0\"\n---\n# Source: web/templates/secret.yaml\napiVersion: v1\nkind: Secret\nmetadata:\n  name: web-token\ntype: Opaque\ndata:\n  token: {TOKEN_B64}\n"
    )
}

/// The commits of the environment, each said by what it changed.
struct Commits {
    /// Added the HelmRelease (its values first set).
    added: String,
    /// Changed its values (`greeting`).
    values: String,
    /// Changed its `interval`, not its values.
    interval: String,
}

/// A cluster with the HelmRelease CRD, the HelmRelease as git has it at HEAD, release `web`
/// revisions 1 (superseded) and 2 (deployed) in Helm's storage, and the objects revision 2
/// made (the ConfigMap's image changed live since).
fn environment(cluster: &TestCluster) -> (EnvRepo, Commits) {
    install_crd(
        cluster,
        "flux/helm.toolkit.fluxcd.io_helmreleases.yaml",
        "helmreleases.helm.toolkit.fluxcd.io",
    );
    let ns = cluster.namespace().to_owned();
    let mut repo = EnvRepo::new();
    let added = repo.commit(
        "web: release the web chart",
        &[("apps/web.yaml", &helm_release(&ns, "10m", "hello-there"))],
    );
    let values = repo.commit(
        "web: greet the world",
        &[("apps/web.yaml", &helm_release(&ns, "10m", "hello-world"))],
    );
    let interval = repo.commit(
        "web: reconcile every 5m",
        &[("apps/web.yaml", &helm_release(&ns, "5m", "hello-world"))],
    );
    let settings = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {ns}\ndata:\n  x: \"1\"\n"
    );
    repo.commit("settings", &[("apps/settings.yaml", &settings)]);
    cluster
        .apply(&helm_release(&ns, "5m", "hello-world"))
        .success();
    let first = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  greeting: \"hello-there\"\n";
    cluster
        .apply(&helm_release_secret(&ns, "web", 1, "superseded", first))
        .success();
    cluster
        .apply(&helm_release_secret(
            &ns,
            "web",
            2,
            "deployed",
            &deployed_manifest(),
        ))
        .success();
    // helm-controller's origin labels on what it applies (fluxcd/helm-controller
    // `internal/postrender`).
    let labels = format!(
        "  labels:\n    app: web\n    helm.toolkit.fluxcd.io/name: web\n    helm.toolkit.fluxcd.io/namespace: {ns}\n"
    );
    cluster
        .apply(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\n  namespace: {ns}\n{labels}data:\n  greeting: hello-world\n  image: ghcr.io/example/web:1.0.1\n"
        ))
        .success();
    cluster
        .apply(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-token\n  namespace: {ns}\n{labels}type: Opaque\ndata:\n  token: {TOKEN_B64}\n"
        ))
        .success();
    (
        repo,
        Commits {
            added,
            values,
            interval,
        },
    )
}

fn line<'a>(doc: &'a Value, text: &str) -> &'a Value {
    doc["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["text"].as_str().unwrap().trim() == text)
        .unwrap_or_else(|| panic!("no line {text:?} in {doc:#}"))
}

/// The line number of `text` in `file` at HEAD, from 1.
fn file_line(repo: &EnvRepo, file: &str, text: &str) -> usize {
    let content = repo.git(&["show", &format!("HEAD:{file}")]);
    content
        .lines()
        .position(|l| l.trim() == text)
        .unwrap_or_else(|| panic!("no {text:?} in {file}:\n{content}"))
        + 1
}

#[test]
fn blame_of_an_object_whose_chart_does_not_render_reads_the_deployed_release() {
    let cluster = TestCluster::start();
    let (repo, commits) = environment(&cluster);
    let ns = cluster.namespace().to_owned();
    let gitops = Gitops::new(&cluster, &repo);

    // The render error makes the exit code 2, as `status` gives it for the release's rows;
    // the blame is printed all the same.
    let run = gitops.run(&["blame", "cm/web-config", "-o", "json"]);
    let run = run.code_is(2);
    assert!(
        run.stderr
            .contains(&format!("error: apps/web.yaml:1: HelmRelease {ns}/web")),
        "{run}"
    );
    let doc = run.json();
    assert_eq!(doc["objectFrom"], "deployedRelease", "{doc:#}");
    assert!(
        doc["renderError"]
            .as_str()
            .is_some_and(|e| e.contains(&format!("HelmRelease {ns}/web"))),
        "{doc:#}"
    );
    assert_eq!(
        doc["helmRelease"]["release"],
        format!("{ns}/web"),
        "{doc:#}"
    );
    assert_eq!(doc["helmRelease"]["revision"], 2, "{doc:#}");
    assert_eq!(doc["helmRelease"]["status"], "deployed", "{doc:#}");
    assert_eq!(doc["helmRelease"]["chart"], "web-1.0.0", "{doc:#}");
    assert_eq!(doc["resource"]["namespace"], ns.as_str(), "{doc:#}");

    // A line the release's values set: its values line and that line's commit (git blame's).
    let greeting = line(&doc, "greeting: hello-world");
    let values_line = file_line(&repo, "apps/web.yaml", "greeting: hello-world");
    assert_eq!(greeting["values"][0]["file"], "apps/web.yaml", "{doc:#}");
    assert_eq!(greeting["values"][0]["line"], values_line, "{doc:#}");
    assert_eq!(
        greeting["values"][0]["path"], "spec.values.greeting",
        "{doc:#}"
    );
    let blamed = cli_env::git_blame(&repo, "HEAD", "apps/web.yaml", values_line, values_line);
    assert_eq!(blamed, std::slice::from_ref(&commits.values));
    assert_eq!(greeting["commit"]["id"], commits.values, "{doc:#}");
    // The image, from two values lines both written when the release was added.
    let image = line(&doc, "image: ghcr.io/example/web:1.0.0");
    assert_eq!(image["values"].as_array().unwrap().len(), 2, "{doc:#}");
    assert_eq!(image["commit"]["id"], commits.added, "{doc:#}");
    assert_eq!(image["drift"], "changed", "{doc:#}");
    // A line no values line sets: the last commit that changed the release's values — not the
    // last commit of the HelmRelease's file (which changed its interval only).
    let file_log = repo.git(&["log", "--format=%H", "--", "apps/web.yaml"]);
    assert_eq!(
        file_log.lines().collect::<Vec<_>>(),
        [&commits.interval, &commits.values, &commits.added]
    );
    let kind = line(&doc, "kind: ConfigMap");
    assert_eq!(kind["commit"]["id"], commits.values, "{doc:#}");
    assert_eq!(kind["values"], serde_json::json!([]), "{doc:#}");

    // The text heads the blame with the release and why the object is read from it.
    let text = gitops.run(&["blame", "cm/web-config"]).code_is(2);
    let mut lines = text.stdout.lines();
    assert_eq!(
        lines.next(),
        Some(format!("# Helm release {ns}/web revision 2 (deployed, chart web-1.0.0)").as_str()),
        "{text}"
    );
    let why = lines.next().unwrap_or_default();
    assert!(
        why.contains("as that release deployed it")
            && why.contains("could not be rendered here")
            && why.contains(&format!("HelmRelease {ns}/web")),
        "{text}"
    );
    let greeting_text = text
        .stdout
        .lines()
        .find(|l| l.contains("greeting: hello-world"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        greeting_text.starts_with(&commits.values[..7])
            && greeting_text.contains(&format!("# values: apps/web.yaml:{values_line}")),
        "{text}"
    );

    // --live: the live object, its lines from the release's values blamed as above, the
    // line changed live on its field manager.
    let live = gitops
        .run(&["blame", "cm/web-config", "--live", "-o", "json"])
        .code_is(2)
        .json();
    assert_eq!(live["objectFrom"], "deployedRelease", "{live:#}");
    assert_eq!(live["helmRelease"]["revision"], 2, "{live:#}");
    let greeting = line(&live, "greeting: hello-world");
    assert_eq!(greeting["commit"]["id"], commits.values, "{live:#}");
    let image = line(&live, "image: ghcr.io/example/web:1.0.1");
    assert!(image["commit"].is_null(), "{live:#}");
    assert_eq!(image["live"]["manager"], "kubectl", "{live:#}");

    // A Secret the release made: its values masked, in every format.
    for format in ["text", "json", "porcelain"] {
        let run = gitops
            .run(&["blame", "secret/web-token", "-o", format])
            .code_is(2);
        assert!(
            !run.stdout.contains(TOKEN_B64)
                && !run.stdout.contains(TOKEN)
                && !run.stderr.contains(TOKEN_B64),
            "{run}"
        );
        assert!(run.stdout.contains("token: ++++++++"), "{run}");
    }
    let live_secret = gitops
        .run(&["blame", "secret/web-token", "--live"])
        .code_is(2);
    assert!(
        !live_secret.stdout.contains(TOKEN_B64) && !live_secret.stdout.contains(TOKEN),
        "{live_secret}"
    );

    // An object no deployed release holds is still not found, the render error named.
    let missing = gitops.run(&["blame", "cm/web-nothing"]).code_is(2);
    assert!(
        missing.stderr.contains("cm/web-nothing is not in git")
            && missing.stderr.contains(&format!("HelmRelease {ns}/web")),
        "{missing}"
    );
}

#[test]
fn history_of_an_object_whose_chart_does_not_render_lists_the_release_values_commits() {
    let cluster = TestCluster::start();
    let (repo, commits) = environment(&cluster);
    let ns = cluster.namespace().to_owned();
    let gitops = Gitops::new(&cluster, &repo);

    let run = gitops
        .run(&["history", "cm/web-config", "-o", "json"])
        .code_is(2);
    let doc = run.json();
    assert_eq!(doc["helmRelease"]["revision"], 2, "{doc:#}");
    assert_eq!(
        doc["helmRelease"]["release"],
        format!("{ns}/web"),
        "{doc:#}"
    );
    assert!(
        doc["renderError"]
            .as_str()
            .is_some_and(|e| e.contains(&format!("HelmRelease {ns}/web"))),
        "{doc:#}"
    );
    // The commits that changed the release's values, newest first: not the interval change,
    // not the commit of another file, though git's log of the file has the first.
    let listed: Vec<&str> = doc["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        [commits.values.as_str(), commits.added.as_str()],
        "{doc:#}"
    );
    let all = repo.git(&["log", "--format=%H"]);
    assert_eq!(all.lines().count(), 4);
    assert!(all.contains(&commits.interval));
    let changes: Vec<(&str, &str, &str)> = doc["commits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["changes"].as_array().unwrap())
        .map(|c| {
            (
                c["kind"].as_str().unwrap(),
                c["name"].as_str().unwrap(),
                c["change"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("HelmRelease", "web", "modified"),
            ("HelmRelease", "web", "added")
        ],
        "{doc:#}"
    );

    let text = gitops.run(&["history", "cm/web-config"]).code_is(2);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(format!("# Helm release {ns}/web revision 2 (deployed, chart web-1.0.0)").as_str()),
        "{text}"
    );
    assert!(
        lines
            .get(1)
            .is_some_and(|l| l.contains("the commits that changed the release's values")),
        "{text}"
    );
    assert!(
        lines
            .get(2)
            .is_some_and(|l| l.starts_with(&commits.values[..7])),
        "{text}"
    );
    assert!(!text.stdout.contains(&commits.interval[..7]), "{text}");

    // The environment's history names no release.
    let env = gitops.run(&["history", "-o", "json"]).code_is(2).json();
    assert!(env["helmRelease"].is_null(), "{env:#}");
    assert_eq!(env["commits"].as_array().unwrap().len(), 4, "{env:#}");
}
