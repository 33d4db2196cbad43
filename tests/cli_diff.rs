//! `kubectl gitops diff` end to end: headers, exit codes, side by side, formats, colour,
//! `KUBECTL_EXTERNAL_DIFF`, secrets (SPEC §5).

mod cli_env;
mod common;

use cli_env::{
    EnvRepo, Gitops, apply_settings_and_web, assert_no_secret, commit_extra_config_map, config_map,
    deployment, drifted_secret, has_escapes, settings_only,
};
use common::TestCluster;
use serde_json::json;

/// A cluster with the repo's HEAD applied by kubectl, then `web` scaled to 5 by hand.
fn drifted() -> (TestCluster, EnvRepo) {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let mut repo = EnvRepo::new();
    repo.commit(
        "initial",
        &[
            ("settings.yaml", &config_map(&ns, "info")),
            ("web.yaml", &deployment(&ns, 2, "1.27")),
        ],
    );
    apply_settings_and_web(&cluster);
    cluster
        .kubectl(&["scale", "deployment/web", "--replicas=5"])
        .success();
    (cluster, repo)
}

#[test]
fn no_differences_exit_0_and_print_nothing() {
    let (cluster, repo) = drifted();
    cluster
        .kubectl(&["scale", "deployment/web", "--replicas=2"])
        .success();
    let run = Gitops::new(&cluster, &repo).run(&["diff"]).code_is(0);
    assert_eq!(run.stdout, "", "{run}");
}

#[test]
fn unified_diff_with_headers_exits_1() {
    let (cluster, repo) = drifted();
    let ns = cluster.namespace();
    let run = Gitops::new(&cluster, &repo).run(&["diff"]).code_is(1);
    let short = &repo.head()[..7];
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("--- live/apps/Deployment/{ns}/web"),
        "{run}"
    );
    assert_eq!(
        lines[1],
        format!("+++ git@{short}/apps/Deployment/{ns}/web"),
        "{run}"
    );
    assert!(lines[2].starts_with("@@ -"), "{run}");
    assert!(lines.contains(&"-  replicas: 5"), "{run}");
    assert!(lines.contains(&"+  replicas: 2"), "{run}");
    // Only the drifted resource is shown.
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("--- ")).count(),
        1,
        "{run}"
    );
    assert!(!has_escapes(&run.stdout), "colour in a pipe\n{run}");
}

#[test]
fn resource_filter_limits_the_diff() {
    let (cluster, repo) = drifted();
    let gitops = Gitops::new(&cluster, &repo);
    let run = gitops.run(&["diff", "cm/settings"]).code_is(0);
    assert_eq!(run.stdout, "", "{run}");
    gitops.run(&["diff", "deployment.apps/web"]).code_is(1);
}

#[test]
fn side_by_side_fits_the_width() {
    let (cluster, repo) = drifted();
    let run = Gitops::new(&cluster, &repo)
        .run_env(&["diff", "--side-by-side"], &[("COLUMNS", "100")])
        .code_is(1);
    let row = run
        .stdout
        .lines()
        .find(|l| l.contains("replicas: 5"))
        .unwrap_or_else(|| panic!("no replicas row\n{run}"));
    let (left, right) = row.split_once(" │ ").unwrap();
    assert!(left.trim_start().contains("-  replicas: 5"), "{row:?}");
    assert!(right.contains("+  replicas: 2"), "{row:?}");
    for line in run.stdout.lines() {
        assert!(line.chars().count() <= 100, "wider than 100: {line:?}");
    }
}

#[test]
fn json_changes() {
    let (cluster, repo) = drifted();
    let run = Gitops::new(&cluster, &repo)
        .run(&["diff", "-o", "json"])
        .code_is(1);
    let doc = run.json();
    assert_eq!(doc["apiVersion"], "kubectl-gitops/v1");
    assert_eq!(doc["kind"], "Diff");
    assert_eq!(doc["revision"]["id"], repo.head());
    let web = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "Deployment")
        .unwrap();
    assert_eq!(web["status"], "Drifted");
    assert_eq!(web["namespace"], cluster.namespace());
    assert_eq!(
        web["changes"],
        json!([{"path": "spec.replicas", "op": "replace", "live": 5, "desired": 2}])
    );
    let yaml = Gitops::new(&cluster, &repo)
        .run(&["diff", "-o", "yaml"])
        .code_is(1);
    let parsed: serde_json::Value = serde_saphyr::from_str(&yaml.stdout).unwrap();
    assert_eq!(parsed["resources"], doc["resources"]);
}

#[test]
fn missing_resource_is_all_additions() {
    let (cluster, mut repo) = drifted();
    let ns = cluster.namespace().to_owned();
    commit_extra_config_map(&mut repo, &ns);
    let run = Gitops::new(&cluster, &repo)
        .run(&["diff", "cm/extra"])
        .code_is(1);
    assert!(
        run.stdout
            .starts_with(&format!("--- live/core/ConfigMap/{ns}/extra\n")),
        "{run}"
    );
    assert!(run.stdout.contains("\n+  name: extra\n"), "{run}");
    assert!(
        !run.stdout
            .lines()
            .any(|l| l.starts_with('-') && !l.starts_with("---")),
        "{run}"
    );
}

#[test]
fn colour_with_always_and_not_with_no_color() {
    let (cluster, repo) = drifted();
    let gitops = Gitops::new(&cluster, &repo);
    let coloured = gitops.run(&["diff", "--color", "always"]).code_is(1);
    assert!(has_escapes(&coloured.stdout), "{coloured}");
    // The changed value is emphasized on the removed and the added line.
    assert!(coloured.stdout.contains("48;2;144;16;17m5"), "{coloured:?}");
    assert!(coloured.stdout.contains("48;2;0;96;0m2"), "{coloured:?}");
    let no_color = gitops.run_env(&["diff"], &[("NO_COLOR", "1")]).code_is(1);
    assert!(!has_escapes(&no_color.stdout), "{no_color}");
    let light = gitops
        .run(&["diff", "--color", "always", "--theme", "light"])
        .code_is(1);
    assert!(light.stdout.contains("48;2;160;239;160m2"), "{light:?}");
    gitops.run(&["diff", "--theme", "no-such-theme"]).code_is(2);
}

fn script(cluster: &TestCluster, name: &str, body: &str) -> String {
    let path = cluster.scratch().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    path.to_str().unwrap().to_owned()
}

#[test]
fn external_diff_gets_live_and_merged_directories() {
    let (cluster, repo) = drifted();
    let ns = cluster.namespace().to_owned();
    let program = script(
        &cluster,
        "mydiff",
        "echo \"args: $(basename \"$1\") $(basename \"$2\") $3\"\nls \"$1\"\ngrep replicas \"$1\"/apps.v1.Deployment.*.web \"$2\"/apps.v1.Deployment.*.web | sed 's|.*/||'\nexit 1",
    );
    let gitops = Gitops::new(&cluster, &repo);
    let run = gitops
        .run_env(
            &["diff"],
            &[("KUBECTL_EXTERNAL_DIFF", &format!("{program} --flag ;bad"))],
        )
        .code_is(1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "args: LIVE MERGED --flag", "{run}");
    assert_eq!(
        lines[1..3],
        [
            format!("apps.v1.Deployment.{ns}.web"),
            format!("v1.ConfigMap.{ns}.settings")
        ],
        "{run}"
    );
    assert_eq!(
        lines[3..],
        [
            format!("apps.v1.Deployment.{ns}.web:  replicas: 5"),
            format!("apps.v1.Deployment.{ns}.web:  replicas: 2")
        ],
        "{run}"
    );
    // The program's verdict is the exit code, as with kubectl.
    let same = script(&cluster, "same", "exit 0");
    gitops
        .run_env(&["diff"], &[("KUBECTL_EXTERNAL_DIFF", &same)])
        .code_is(0);
    let broken = script(&cluster, "broken", "echo oops >&2; exit 3");
    let run = gitops
        .run_env(&["diff"], &[("KUBECTL_EXTERNAL_DIFF", &broken)])
        .code_is(2);
    assert!(run.stderr.contains("oops"), "{run}");
    let run = gitops
        .run_env(
            &["diff"],
            &[("KUBECTL_EXTERNAL_DIFF", "/no/such/diff-program")],
        )
        .code_is(2);
    assert!(
        run.stderr.starts_with("error: ") && run.stderr.contains("/no/such/diff-program"),
        "{run}"
    );
}

#[test]
fn secret_values_never_printed() {
    let cluster = TestCluster::start();
    let repo = drifted_secret(&cluster);
    let gitops = Gitops::new(&cluster, &repo);
    for format in ["text", "json", "yaml", "porcelain"] {
        let run = gitops.run(&["diff", "-o", format]).code_is(1);
        assert_no_secret(&run, format);
    }
    let run = gitops
        .run(&["diff", "--side-by-side", "--color", "always"])
        .code_is(1);
    assert_no_secret(&run, "side by side");
    // The masks still show that the value changed.
    let text = gitops.run(&["diff"]).code_is(1);
    assert!(
        text.stdout.lines().any(|l| l.starts_with("-  password: +")),
        "{text}"
    );
    assert!(
        text.stdout.lines().any(|l| l.starts_with("+  password: +")),
        "{text}"
    );
    let cat = script(&cluster, "cat", "cat \"$1\"/* \"$2\"/*; exit 1");
    let run = gitops
        .run_env(&["diff"], &[("KUBECTL_EXTERNAL_DIFF", &cat)])
        .code_is(1);
    assert_no_secret(&run, "KUBECTL_EXTERNAL_DIFF");
    assert!(run.stdout.contains("kind: Secret"), "{run}");
}

#[test]
fn wide_is_refused_for_diff() {
    let cluster = TestCluster::start();
    let repo = settings_only(&cluster);
    let run = Gitops::new(&cluster, &repo)
        .run(&["diff", "-o", "wide"])
        .code_is(2);
    assert!(
        run.stderr.starts_with("error: ") && run.stderr.contains("-o wide"),
        "{run}"
    );
}

#[test]
fn context_lines_follow_u() {
    let (cluster, repo) = drifted();
    let run = Gitops::new(&cluster, &repo)
        .run(&["diff", "-U", "0"])
        .code_is(1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[2..],
        ["@@ -7 +7 @@", "-  replicas: 5", "+  replicas: 2"],
        "{run}"
    );
}
