//! The UI end to end in a real terminal: tmux runs the binary on a 160×48 pseudo-terminal
//! against the test cluster; keys go in with `send-keys`, the screen comes out with
//! `capture-pane`. Each test uses its own tmux server (`-L`), killed at the end.

mod cli_env;
mod common;
mod tmux;

use std::path::Path;
use std::process::Command;

use cli_env::{EnvRepo, Gitops, apply_settings_and_web, config_map, deployment};
use common::TestCluster;
use tmux::{Tmux, stty_before_and_after};

/// The shell line that runs the UI (`gitops` with `args`) in the terminal, recording the
/// terminal settings before and after in `dir`.
fn ui_line(gitops: &Gitops, args: &[&str], dir: &Path) -> String {
    tmux::ui_line(&gitops.command(args), dir, None)
}

/// A cluster holding the first commit's web (2 replicas, nginx 1.25) and settings, then web
/// scaled to 5 by hand; the repo's HEAD has nginx 1.27.
fn drifted() -> (TestCluster, EnvRepo, [String; 2]) {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let mut repo = EnvRepo::new();
    let first = repo.commit(
        "web and settings",
        &[
            ("app/settings.yaml", &config_map(&ns, "info")),
            ("app/web.yaml", &deployment(&ns, 2, "1.25")),
        ],
    );
    let second = repo.commit(
        "web: nginx 1.27",
        &[("app/web.yaml", &deployment(&ns, 2, "1.27"))],
    );
    apply_settings_and_web(&cluster);
    cluster
        .kubectl(&["scale", "deployment/web", "--replicas", "5"])
        .success();
    (cluster, repo, [second, first])
}

fn row_of<'a>(screen: &'a str, name: &str) -> &'a str {
    screen
        .lines()
        .find(|l| {
            l.contains(&format!("/{name} "))
                && (l.contains("Synced") || l.contains("Drifted") || l.contains("Missing"))
        })
        .unwrap_or("")
}

#[test]
fn drift_history_diff_live_changes_and_a_clean_exit() {
    let (cluster, repo, [head, first]) = drifted();
    let gitops = Gitops::new(&cluster, &repo);
    let scratch = tempfile::tempdir().unwrap();
    let line = ui_line(&gitops, &[], scratch.path());
    let tmux = Tmux::start(&line, 160, 48);

    // Drift shows: web Drifted at HEAD, settings Synced; the diff of web is open.
    let screen = tmux.wait_for("the drifted web", |s| row_of(s, "web").contains("Drifted"));
    assert!(row_of(&screen, "settings").contains("Synced"), "{screen}");
    assert!(
        screen.contains(&format!("Resources @{}", &head[..7])),
        "{screen}"
    );
    assert!(screen.contains("HEAD web: nginx 1.27"), "{screen}");
    tmux.wait_for("the replicas diff", |s| {
        s.contains("replicas: 5") && s.contains("replicas: 2")
    });

    // Walking history re-evaluates at the older commit: the image differs there too.
    tmux.keys(&["j"]);
    let screen = tmux.wait_for("the first commit evaluated", |s| {
        s.contains(&format!("Resources @{}", &first[..7])) && s.contains("nginx:1.25")
    });
    assert!(row_of(&screen, "web").contains("Drifted"), "{screen}");
    tmux.keys(&["k"]);
    tmux.wait_for("HEAD evaluated again", |s| {
        s.contains(&format!("Resources @{}", &head[..7])) && !s.contains("nginx:1.25")
    });

    // Unified layout.
    tmux.keys(&["Tab", "d"]);
    tmux.wait_for("the unified diff", |s| s.contains("· unified"));

    // A change by someone else shows unasked.
    cluster
        .kubectl(&["scale", "deployment/web", "--replicas", "2"])
        .success();
    tmux.wait_for("web turning Synced after kubectl scale", |s| {
        row_of(s, "web").contains("Synced")
    });

    // Filter, help, quit.
    tmux.keys(&["/", "s", "e", "t", "Enter"]);
    let screen = tmux.wait_for("the filtered list", |s| s.contains("1 shown /set"));
    assert_eq!(row_of(&screen, "web"), "", "{screen}");
    tmux.keys(&["?"]);
    tmux.wait_for("help", |s| {
        s.contains(" Keys ") && s.contains("resource history")
    });
    // Escape alone: with a key right behind it in the same read it would be Alt+key.
    tmux.keys(&["Escape"]);
    tmux.wait_for("help closed", |s| !s.contains(" Keys "));
    tmux.keys(&["q"]);
    tmux.wait_for("the exit", |s| s.contains("EXIT=0"));
    let (before, settings) = stty_before_and_after(scratch.path());
    assert_eq!(settings, before, "terminal settings restored");
}

#[test]
fn read_only_refuses_sync_and_sigterm_restores_the_terminal() {
    let (cluster, repo, _) = drifted();
    let gitops = Gitops::new(&cluster, &repo);
    let scratch = tempfile::tempdir().unwrap();
    let line = ui_line(&gitops, &["--read-only"], scratch.path());
    let tmux = Tmux::start(&line, 160, 48);
    tmux.wait_for("the drifted web", |s| row_of(s, "web").contains("Drifted"));
    tmux.keys(&["s"]);
    tmux.wait_for("the refusal", |s| {
        s.contains("read-only: writes (s, S, R) are disabled")
    });
    // SIGTERM to the UI process (found through its tmux pane's shell child).
    let ui_pid = tmux.child_pid();
    let killed = Command::new("kill")
        .args(["-TERM", &ui_pid])
        .status()
        .unwrap();
    assert!(killed.success());
    tmux.wait_for("the exit after SIGTERM", |s| s.contains("EXIT=143"));
    let (before, after) = stty_before_and_after(scratch.path());
    assert_eq!(after, before, "terminal settings restored");
}

#[test]
fn blame_history_and_sync_one_resource_through_its_confirmation() {
    let (cluster, repo, [head, first]) = drifted();
    let gitops = Gitops::new(&cluster, &repo);
    let scratch = tempfile::tempdir().unwrap();
    let line = ui_line(&gitops, &[], scratch.path());
    let tmux = Tmux::start(&line, 160, 48);
    tmux.wait_for("the drifted web", |s| row_of(s, "web").contains("Drifted"));

    // Blame of web in git: each line with its commit; replicas marked as drifted (~).
    tmux.keys(&["b"]);
    let screen = tmux.wait_for("the git blame", |s| {
        s.contains("Blame git@") && s.contains("replicas: 2") && s.contains("kind: Deployment")
    });
    // Lines carry the commit that set them: the image the second, the name the first.
    let attributed = |text: &str, sha: &str| {
        screen
            .lines()
            .any(|l| l.contains(text) && l.contains(&sha[..7]) && l.contains("Ada Example"))
    };
    assert!(attributed("image: nginx:1.27", &head), "{screen}");
    assert!(attributed("name: web", &first), "{screen}");
    let replicas = screen
        .lines()
        .find(|l| l.contains("replicas: 2"))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(replicas.contains(" ~ "), "{replicas}");
    assert!(replicas.contains("live: 5"), "{replicas}");
    // Again: live blame.
    tmux.keys(&["b"]);
    tmux.wait_for("the live blame", |s| {
        s.contains("Blame live") && s.contains("replicas: 5")
    });
    // The resource's history: both commits.
    tmux.keys(&["h"]);
    tmux.wait_for("the resource history", |s| {
        s.contains("History · Deployment.apps web")
            && s.contains("M web: nginx 1.27")
            && s.contains("A web and settings")
    });
    tmux.keys(&["d"]);

    // Sync web: the plan is shown, then applied on `y`.
    tmux.keys(&["s"]);
    let screen = tmux.wait_for("the sync plan", |s| s.contains("y sync · n cancel"));
    assert!(screen.contains("configure Deployment.apps web"), "{screen}");
    assert!(screen.contains("spec.replicas"), "{screen}");
    tmux.keys(&["y"]);
    tmux.wait_for("web turning Synced after the sync", |s| {
        row_of(s, "web").contains("Synced") && s.contains("sync: 0 created, 1 configured")
    });
    let live = cluster.get_json(&["deployment", "web"]);
    assert_eq!(live["spec"]["replicas"], 2);
    assert_eq!(
        live["metadata"]["annotations"]["kubectl-gitops.io/revision"],
        head.as_str()
    );
    tmux.keys(&["q"]);
    tmux.wait_for("the exit", |s| s.contains("EXIT=0"));
}
