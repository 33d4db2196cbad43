//! `kubectl gitops diff --from REV [--rev REV2]` end to end, with no cluster (SPEC §5): added /
//! modified / removed resources, headers, exit codes, RESOURCE filters, render errors, every
//! format with Secrets masked, the Markdown comment and its trimming, and the resource changes
//! against the reference tools (`git archive` + `kubectl kustomize`) on a generated kustomize
//! environment.

mod cli_env;
mod common;
mod reference_diff;

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cli_env::{EnvRepo, Run, offline};
use reference_diff::{Reference, our_changes, reference_changes, reference_objects};
use serde_json::Value;

fn cm(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: prod\ndata:\n  level: {value:?}\n"
    )
}

const PASSWORDS: [&str; 3] = ["first-pw-7c1d2e", "second-pw-4b9a0f", "kept-pw-e38d51"];

fn secret(password: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: prod\ntype: Opaque\ndata:\n  password: {}\n  kept: {}\nstringData:\n  token: {password}-token\n",
        STANDARD.encode(password),
        STANDARD.encode(PASSWORDS[2])
    )
}

/// Two commits: `a` modified, `b` removed, `c` added, Secret `creds` modified.
fn two_commits() -> (EnvRepo, String, String) {
    let mut repo = EnvRepo::new();
    let first = repo.commit(
        "first",
        &[
            ("env/a.yaml", &cm("a", "info")),
            ("env/b.yaml", &cm("b", "info")),
            ("env/creds.yaml", &secret(PASSWORDS[0])),
        ],
    );
    repo.git(&["rm", "-q", "env/b.yaml"]);
    let second = repo.commit(
        "second",
        &[
            ("env/a.yaml", &cm("a", "debug")),
            ("env/c.yaml", &cm("c", "info")),
            ("env/creds.yaml", &secret(PASSWORDS[1])),
        ],
    );
    (repo, first, second)
}

fn diff_from(repo: &EnvRepo, args: &[&str]) -> Run {
    let mut all = vec!["--path", "env", "diff"];
    all.extend_from_slice(args);
    offline(repo, &all, &[])
}

fn statuses(run: &Run) -> Vec<(String, String)> {
    run.json()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn added_modified_removed_with_headers_and_exit_codes() {
    let (repo, first, second) = two_commits();
    let run = diff_from(&repo, &["--from", "HEAD~1"]).code_is(1);
    let (old, new) = (&first[..7], &second[..7]);
    for header in [
        format!("--- git@{old}/core/ConfigMap/prod/a\n+++ git@{new}/core/ConfigMap/prod/a\n"),
        format!("--- git@{old}/core/ConfigMap/prod/b\n+++ git@{new}/core/ConfigMap/prod/b\n"),
        format!("--- git@{old}/core/ConfigMap/prod/c\n+++ git@{new}/core/ConfigMap/prod/c\n"),
    ] {
        assert!(run.stdout.contains(&header), "{header}\n{run}");
    }
    assert!(
        run.stdout.contains("-  level: info\n+  level: debug\n"),
        "{run}"
    );
    assert!(run.stdout.contains("@@ -0,0 +1,"), "c is added: {run}");
    let summary =
        format!("4 resources differ between {old} and {new}: 1 added, 2 modified, 1 removed");
    assert!(run.stderr.contains(&summary), "{run}");

    let json = diff_from(&repo, &["--from", &first, "--rev", &second, "-o", "json"]).code_is(1);
    let doc = json.json();
    assert_eq!(doc["apiVersion"], "kubectl-gitops/v1");
    assert_eq!(doc["kind"], "Diff");
    assert_eq!(doc["from"]["id"], first.as_str());
    assert_eq!(doc["from"]["summary"], "first");
    assert_eq!(doc["revision"]["id"], second.as_str());
    assert_eq!(doc["revision"]["author"], "Ada Example");
    assert_eq!(
        statuses(&json),
        [
            ("a".to_owned(), "modified".to_owned()),
            ("b".to_owned(), "removed".to_owned()),
            ("c".to_owned(), "added".to_owned()),
            ("creds".to_owned(), "modified".to_owned()),
        ]
    );
    let a = &doc["resources"][0];
    assert_eq!(a["namespace"], "prod");
    assert_eq!(
        a["changes"],
        serde_json::json!([{"path": "data.level", "op": "replace", "live": "info", "desired": "debug"}])
    );
    assert_eq!(doc["resources"][1]["changes"][0]["op"], "remove");
    assert_eq!(doc["resources"][2]["changes"][0]["op"], "add");
    assert_eq!(doc["summary"]["added"], 1);
    let yaml = diff_from(&repo, &["--from", &first, "-o", "yaml"]).code_is(1);
    assert_eq!(serde_saphyr::from_str::<Value>(&yaml.stdout).unwrap(), doc);

    // The reverse swaps added and removed.
    let back = diff_from(&repo, &["--from", "HEAD", "--rev", "HEAD~1", "-o", "json"]).code_is(1);
    assert_eq!(statuses(&back)[1], ("b".to_owned(), "added".to_owned()));
    assert_eq!(statuses(&back)[2], ("c".to_owned(), "removed".to_owned()));

    let same = diff_from(&repo, &["--from", "HEAD"]).code_is(0);
    assert_eq!(same.stdout, "", "{same}");
    diff_from(&repo, &["--from", "HEAD~1", "--rev", "HEAD~1"]).code_is(0);
}

#[test]
fn resource_arguments_filter_both_sides() {
    let (repo, ..) = two_commits();
    let one = diff_from(&repo, &["--from", "HEAD~1", "cm/a", "-o", "json"]).code_is(1);
    assert_eq!(statuses(&one), [("a".to_owned(), "modified".to_owned())]);
    let removed = diff_from(&repo, &["--from", "HEAD~1", "configmap/b", "-n", "prod"]).code_is(1);
    assert!(
        removed.stdout.contains("/core/ConfigMap/prod/b"),
        "{removed}"
    );
    assert!(!removed.stdout.contains("ConfigMap/prod/a"), "{removed}");
    let none = diff_from(&repo, &["--from", "HEAD~1", "deploy/web"]).code_is(0);
    assert_eq!(none.stdout, "", "{none}");
    let unknown = diff_from(&repo, &["--from", "HEAD~1", "widgets/x"]).code_is(2);
    assert!(unknown.stderr.contains("widgets"), "{unknown}");
}

#[test]
fn unknown_revision_and_refused_flags_exit_2_with_a_clear_message() {
    let (repo, ..) = two_commits();
    let run = diff_from(&repo, &["--from", "no-such-branch"]).code_is(2);
    assert!(
        run.stderr.contains("--from \"no-such-branch\"") && run.stderr.contains("git log"),
        "{run}"
    );
    assert_eq!(run.stdout, "");
    let rev = diff_from(&repo, &["--from", "HEAD~1", "--rev", "v9.9"]).code_is(2);
    assert!(rev.stderr.contains("--rev \"v9.9\""), "{rev}");
    let live = diff_from(&repo, &["--from", "HEAD~1", "--live"]).code_is(2);
    assert!(live.stderr.contains("not supported yet"), "{live}");
    let markdown = offline(&repo, &["status", "-o", "markdown"], &[]).code_is(2);
    assert!(markdown.stderr.contains("diff --from"), "{markdown}");
}

#[test]
fn a_render_error_is_reported_and_the_rest_still_compared() {
    let (mut repo, ..) = two_commits();
    repo.commit(
        "break a, change c",
        &[
            (
                "env/a.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: [broken\n",
            ),
            ("env/c.yaml", &cm("c", "warn")),
        ],
    );
    let run = diff_from(&repo, &["--from", "HEAD~1"]).code_is(2);
    assert!(
        run.stderr.contains("error: at ") && run.stderr.contains("env/a.yaml"),
        "{run}"
    );
    assert!(run.stdout.contains("+  level: warn"), "{run}");
    assert!(
        !run.stdout.contains("ConfigMap/prod/a"),
        "a is not compared: {run}"
    );
    let json = diff_from(&repo, &["--from", "HEAD~1", "-o", "json"]).code_is(2);
    let doc = json.json();
    assert_eq!(statuses(&json), [("c".to_owned(), "modified".to_owned())]);
    assert!(
        doc["errors"][0].as_str().unwrap().contains("env/a.yaml"),
        "{json}"
    );
}

/// Every form a leak of [`PASSWORDS`] could take.
fn needles() -> Vec<String> {
    PASSWORDS
        .iter()
        .flat_map(|p| {
            let b64 = STANDARD.encode(p);
            [
                p.to_string(),
                b64.clone(),
                b64[4..b64.len() - 4].to_owned(),
                STANDARD.encode(&b64),
            ]
        })
        .collect()
}

#[test]
fn secrets_are_masked_in_every_format() {
    let (repo, ..) = two_commits();
    let formats: [&[&str]; 8] = [
        &[],
        &["--side-by-side"],
        &["--color", "always"],
        &["-o", "json"],
        &["-o", "yaml"],
        &["-o", "porcelain"],
        &["-o", "markdown"],
        &["secret/creds", "-o", "json"],
    ];
    for format in formats {
        let mut args = vec!["-vvv", "--from", "HEAD~1"];
        args.extend_from_slice(format);
        let run = diff_from(&repo, &args).code_is(1);
        for needle in needles() {
            assert!(
                !run.stdout.contains(&needle) && !run.stderr.contains(&needle),
                "{needle} printed by {format:?}\n{run}"
            );
        }
        assert!(run.stdout.contains("creds"), "{format:?}: {run}");
    }
    // Not vacuous: the changed value shows as two different masks, the kept one as none.
    let doc = diff_from(&repo, &["--from", "HEAD~1", "secret/creds", "-o", "json"]).json();
    let changes = doc["resources"][0]["changes"].as_array().unwrap().clone();
    let paths: Vec<&str> = changes
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    // stringData is folded into data, as the API server stores it.
    assert_eq!(paths, ["data.password", "data.token"], "{doc}");
    assert_ne!(changes[0]["live"], changes[0]["desired"]);
    assert!(changes[0]["live"].as_str().unwrap().starts_with("++++++++"));
}

#[test]
fn markdown_comment_snapshot() {
    let (repo, ..) = two_commits();
    let run = diff_from(&repo, &["--from", "HEAD~1", "-o", "markdown"]).code_is(1);
    insta::assert_snapshot!(run.stdout);
}

/// A change too large for one comment: every resource keeps its row in the summary table, the
/// diffs that do not fit are left out with a note naming how many and the command to see them.
#[test]
fn markdown_trimming_keeps_the_whole_summary_under_the_limit() {
    let mut repo = EnvRepo::new();
    let names: Vec<String> = (0..300).map(|n| format!("settings-{n:03}")).collect();
    let big = |name: &str, version: u32| {
        let mut text = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: prod\ndata:\n"
        );
        for line in 0..40 {
            text.push_str(&format!(
                "  key-{line:02}: \"{name} value {line} of version {version}\"\n"
            ));
        }
        text
    };
    let before: Vec<(String, String)> = names
        .iter()
        .map(|n| (format!("env/{n}.yaml"), big(n, 1)))
        .collect();
    let files: Vec<(&str, &str)> = before
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    repo.commit("version 1", &files);
    let after: Vec<(String, String)> = names
        .iter()
        .map(|n| (format!("env/{n}.yaml"), big(n, 2)))
        .collect();
    let files: Vec<(&str, &str)> = after
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    repo.commit("version 2", &files);

    let run = diff_from(&repo, &["--from", "HEAD~1", "-o", "markdown"]).code_is(1);
    let text = &run.stdout;
    assert!(
        text.chars().count() < 65_000,
        "{} characters",
        text.chars().count()
    );
    for name in &names {
        assert!(
            text.contains(&format!("| modified | ConfigMap | prod | {name} |")),
            "{name} has no row"
        );
    }
    let blocks = text.matches("<details>").count();
    assert!(blocks > 0 && blocks < names.len(), "{blocks} blocks");
    let note = format!(
        "the diffs of {} of 300 resources were left out to keep this comment under 65,000 characters",
        names.len() - blocks
    );
    assert!(
        text.contains(&note),
        "{note}\n{}",
        &text[text.len() - 400..]
    );
    assert!(
        text.contains("run `kubectl gitops diff --from "),
        "the note names the command"
    );
    assert!(text.contains(" --path env`"), "the command keeps --path");
    // Each block that is there is whole: its fence closed, its details ended.
    assert_eq!(blocks, text.matches("</details>").count());
}

fn kustomization(resources: &[&str], extra: &str) -> String {
    let mut text =
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n".to_owned();
    for r in resources {
        text.push_str(&format!("- {r}\n"));
    }
    text.push_str(extra);
    text
}

fn deployment(replicas: u32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: {image}\n"
    )
}

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n";

/// A generated kustomize environment over five commits: our added / modified / removed
/// resources between pairs of them are the ones `kubectl kustomize` of both commits gives.
#[test]
fn kustomize_changes_equal_kubectl_kustomize_of_both_commits() {
    let mut repo = EnvRepo::new();
    let overlay = |extra: &str| {
        kustomization(
            &["../../base"],
            &format!("namespace: prod\ncommonLabels:\n  env: prod\n{extra}"),
        )
    };
    let generator = |level: &str| {
        format!("configMapGenerator:\n- name: settings\n  literals:\n  - LEVEL={level}\n")
    };
    repo.commit(
        "base and overlay",
        &[
            ("base/kustomization.yaml", &kustomization(&["web.yaml"], "")),
            ("base/web.yaml", &deployment(2, "nginx:1.27")),
            ("envs/prod/kustomization.yaml", &overlay(&generator("info"))),
        ],
    );
    repo.commit(
        "add a service",
        &[
            (
                "base/kustomization.yaml",
                &kustomization(&["web.yaml", "svc.yaml"], ""),
            ),
            ("base/svc.yaml", SERVICE),
        ],
    );
    repo.commit(
        "new image, debug level (the generated name changes)",
        &[
            ("base/web.yaml", &deployment(2, "nginx:1.28")),
            (
                "envs/prod/kustomization.yaml",
                &overlay(&generator("debug")),
            ),
        ],
    );
    repo.commit(
        "no change: a comment",
        &[(
            "base/web.yaml",
            &format!("# web\n{}", deployment(2, "nginx:1.28")),
        )],
    );
    repo.commit(
        "drop the service, three replicas",
        &[
            ("base/kustomization.yaml", &kustomization(&["web.yaml"], "")),
            ("base/web.yaml", &deployment(3, "nginx:1.28")),
        ],
    );
    let path = "envs/prod";
    let commits: Vec<String> = (0..5)
        .map(|n| {
            repo.git(&["rev-parse", &format!("HEAD~{n}")])
                .trim()
                .to_owned()
        })
        .collect();
    let mut rendered: BTreeMap<&str, BTreeMap<String, Value>> = BTreeMap::new();
    for commit in &commits {
        rendered.insert(
            commit,
            reference_objects(repo.dir(), commit, path, Reference::Kustomize),
        );
    }
    let mut compared = 0;
    for (from, rev) in [(4, 0), (4, 3), (3, 2), (2, 1), (1, 0), (0, 4), (2, 0)] {
        let (from, rev) = (&commits[from], &commits[rev]);
        let expected = reference_changes(&rendered[from.as_str()], &rendered[rev.as_str()]);
        let run = offline(
            &repo,
            &[
                "--path", path, "diff", "--from", from, "--rev", rev, "-o", "json",
            ],
            &[],
        );
        let code = if expected.is_empty() { 0 } else { 1 };
        let run = run.code_is(code);
        assert_eq!(our_changes(&run.json()), expected, "{from}..{rev}");
        compared += expected.len();
    }
    assert!(compared > 8, "the pairs change little: {compared}");
}
