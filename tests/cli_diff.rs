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
    let change = &web["changes"][0];
    assert_eq!(web["changes"].as_array().map(Vec::len), Some(1), "{run}");
    for (key, value) in [
        ("path", json!("spec.replicas")),
        ("op", json!("replace")),
        ("live", json!(5)),
        ("desired", json!(2)),
        ("liveOperation", json!("Update")),
    ] {
        assert_eq!(change[key], value, "{key}\n{run}");
    }
    // `kubectl scale` wrote it: kubectl's manager for scale, whatever its version names it.
    let manager = change["liveManager"].as_str().unwrap_or_default();
    assert!(manager.starts_with("kubectl"), "{run}");
    // The real API server (1.28) records no time on an entry written through the scale
    // subresource; where there is one, it is RFC 3339.
    if !change["liveTime"].is_null() {
        assert_rfc3339(&change["liveTime"]);
    }
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
    // Who set the live value is named; the note holds no value.
    let note = text
        .stdout
        .lines()
        .find(|l| l.starts_with("# live: data.password set by kubectl at "))
        .unwrap_or_else(|| panic!("no note\n{text}"));
    assert!(note.ends_with("(Apply)"), "{text}");
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
        lines[2..5],
        ["@@ -7 +7 @@", "-  replicas: 5", "+  replicas: 2"],
        "{run}"
    );
    // The note naming who set the live value closes the hunk.
    assert_eq!(lines.len(), 6, "{run}");
    assert!(
        lines[5].starts_with("# live: spec.replicas set by kubectl")
            && lines[5].ends_with("(Update)"),
        "{run}"
    );
}

/// Panics unless `time` is an RFC 3339 timestamp.
fn assert_rfc3339(time: &serde_json::Value) {
    let text = time.as_str().unwrap_or_else(|| panic!("no time: {time}"));
    assert!(
        chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        "not RFC 3339: {text}"
    );
}

/// Git labels `web`, which live lacks; live, `ops-team` scaled it to 5 (a merge patch with
/// its own field manager) and `kubectl set image` changed its image.
fn drifted_by_other_managers() -> (TestCluster, EnvRepo) {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let mut repo = EnvRepo::new();
    let labelled = deployment(&ns, 2, "1.27").replacen(
        "  namespace: ",
        "  labels:\n    tier: front\n  namespace: ",
        1,
    );
    repo.commit(
        "initial",
        &[
            ("settings.yaml", &config_map(&ns, "info")),
            ("web.yaml", &labelled),
        ],
    );
    apply_settings_and_web(&cluster);
    let replicas = r#"{"spec":{"replicas":5}}"#;
    cluster
        .kubectl(&[
            "patch",
            "deployment/web",
            "--type=merge",
            "--field-manager=ops-team",
            "-p",
            replicas,
        ])
        .success();
    cluster
        .kubectl(&["set", "image", "deployment/web", "web=nginx:1.26"])
        .success();
    (cluster, repo)
}

const IMAGE: &str = "spec.template.spec.containers[name=web].image";

#[test]
fn json_names_the_manager_and_time_of_each_live_field() {
    let (cluster, repo) = drifted_by_other_managers();
    let run = Gitops::new(&cluster, &repo)
        .run(&["diff", "deployment/web", "-o", "json"])
        .code_is(1);
    let doc = run.json();
    let changes = doc["resources"][0]["changes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let change = |path: &str| {
        changes
            .iter()
            .find(|c| c["path"] == path)
            .unwrap_or_else(|| panic!("no change at {path}\n{run}"))
            .clone()
    };
    let replicas = change("spec.replicas");
    assert_eq!(replicas["liveManager"], "ops-team", "{run}");
    assert_eq!(replicas["liveOperation"], "Update", "{run}");
    assert_rfc3339(&replicas["liveTime"]);
    let image = change(IMAGE);
    assert_eq!(image["live"], "nginx:1.26", "{run}");
    assert_eq!(image["liveManager"], "kubectl-set", "{run}");
    assert_rfc3339(&image["liveTime"]);
    // The label is not live: no one set it.
    let added: Vec<&serde_json::Value> = changes.iter().filter(|c| c["op"] == "add").collect();
    assert!(!added.is_empty(), "{run}");
    for change in added {
        assert!(
            change["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("metadata.labels")),
            "{run}"
        );
        assert!(change["liveManager"].is_null(), "{run}");
        assert!(change["liveTime"].is_null(), "{run}");
    }
    let yaml = Gitops::new(&cluster, &repo)
        .run(&["diff", "deployment/web", "-o", "yaml"])
        .code_is(1);
    let parsed: serde_json::Value = serde_saphyr::from_str(&yaml.stdout).unwrap();
    assert_eq!(parsed["resources"], doc["resources"]);
}

#[test]
fn text_notes_name_the_manager_after_each_hunk() {
    let (cluster, repo) = drifted_by_other_managers();
    let gitops = Gitops::new(&cluster, &repo);
    let time = gitops
        .run(&["diff", "deployment/web", "-o", "json"])
        .code_is(1)
        .json()["resources"][0]["changes"]
        .as_array()
        .and_then(|changes| changes.iter().find(|c| c["path"] == "spec.replicas"))
        .map(|c| c["liveTime"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let replicas_note = format!("# live: spec.replicas set by ops-team at {time} (Update)");
    let run = gitops
        .run(&["diff", "deployment/web", "-U", "1"])
        .code_is(1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let position = |wanted: &dyn Fn(&str) -> bool| {
        lines
            .iter()
            .position(|l| wanted(l))
            .unwrap_or_else(|| panic!("\n{run}"))
    };
    let removed = position(&|l| l == "-  replicas: 5");
    let note = position(&|l| l == replicas_note);
    assert!(note > removed, "{run}");
    // The note closes its hunk.
    assert!(
        lines[removed..note].iter().all(|l| !l.starts_with("@@")),
        "{run}"
    );
    assert!(
        lines
            .get(note + 1)
            .is_none_or(|l| l.starts_with("@@") || l.starts_with('#')),
        "{run}"
    );
    position(&|l| l.starts_with(&format!("# live: {IMAGE} set by kubectl-set at ")));
    // Nothing about the label: it is not live.
    assert!(!run.stdout.contains("# live: metadata"), "{run}");
    assert!(!has_escapes(&run.stdout), "{run}");
    let side = gitops
        .run_env(
            &["diff", "deployment/web", "--side-by-side"],
            &[("COLUMNS", "160")],
        )
        .code_is(1);
    assert!(side.stdout.lines().any(|l| l == replicas_note), "{side}");
    let coloured = gitops
        .run(&["diff", "deployment/web", "--color", "always"])
        .code_is(1);
    assert!(
        coloured.stdout.contains(&format!("\x1b[2m{replicas_note}")),
        "{coloured:?}"
    );
}
