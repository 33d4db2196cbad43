//! `kubectl gitops demo` end to end in a real terminal (issue #6): the demo opens the UI in
//! tmux with a PATH that holds neither kubectl nor git; the test sees the drift, walks the
//! history, opens the diff and the blame, syncs one resource through its confirmation, sees it
//! turn Synced, quits, and checks the terminal was restored. What the UI claims is checked
//! against the outside: the git CLI on the sample repo (the blame's commits, the files two
//! commits changed for the mark of issue #17) and the real kubectl on the demo's sandbox (the
//! sync's write).

mod common;
mod tmux;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{demo_command, find_kubectl, stdout_of};
use serde_json::Value;
use tmux::{SHOW, Tmux, stty_before_and_after, ui_line};

/// The demo's Secret value, base64 and decoded: neither may ever be on the screen.
const SECRET_VALUES: [&str; 2] = ["ZGVtby1wYXNzd29yZA==", "demo-password"];

/// The row of `name` (`demo/settings`) in the Resources pane, or "".
fn row_of<'a>(screen: &'a str, name: &str) -> &'a str {
    screen
        .lines()
        .find(|l| {
            l.contains(&format!(" {name} "))
                && ["Synced", "Drifted", "Missing", "Orphaned"]
                    .iter()
                    .any(|s| l.contains(s))
        })
        .unwrap_or("")
}

/// The Detail pane's part of a screen line (right of the left column's panes).
fn detail_part(line: &str) -> &str {
    line.rsplit_once("││").map_or(line, |(_, right)| right)
}

/// The demo's directory (`$TMPDIR/kubectl-gitops-demo-*`) once it exists.
fn demo_dir(tmp: &Path) -> PathBuf {
    common::poll_until(SHOW, "the demo directory", || {
        std::fs::read_dir(tmp)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.join("kubeconfig").is_file() && p.join("env-repo").is_dir())
    })
}

/// `git <args>` in `repo`, stdout trimmed.
fn git(repo: &Path, args: &[&str]) -> String {
    let mut git = Command::new("git");
    git.arg("-C").arg(repo).args(args);
    stdout_of(&mut git, &format!("git {args:?}"))
        .trim()
        .to_owned()
}

/// The commit `git blame --porcelain` gives the line of `file` that contains `text`.
fn git_blame_commit(repo: &Path, file: &str, text: &str) -> String {
    let porcelain = git(repo, &["blame", "--porcelain", "HEAD", "--", file]);
    let mut commit = "";
    for line in porcelain.lines() {
        let first = line.split(' ').next().unwrap_or("");
        if first.len() == 40 && first.bytes().all(|b| b.is_ascii_hexdigit()) {
            commit = first;
        } else if let Some(content) = line.strip_prefix('\t')
            && content.contains(text)
        {
            return commit.to_owned();
        }
    }
    panic!("no line with {text:?} in {file}:\n{porcelain}");
}

/// The real kubectl against the demo's sandbox; stdout as JSON.
fn kubectl_json(kubeconfig: &Path, home: &Path, args: &[&str]) -> Value {
    let mut cmd = Command::new(find_kubectl());
    cmd.args(args)
        .args(["-o", "json"])
        .env_clear()
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .stdin(Stdio::null());
    // The gcloud dispatcher finds the versioned kubectl through PATH.
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    serde_json::from_str(&stdout_of(&mut cmd, &format!("kubectl {args:?}"))).unwrap()
}

#[test]
fn demo_in_a_terminal_drift_history_blame_sync_and_a_clean_exit() {
    let (scratch, demo) = demo_command("kgo-demo-ui-", &["--keep"]);
    let (tmp, home) = (scratch.path().join("tmp"), scratch.path().join("home"));
    let tmux = Tmux::start(&ui_line(&demo, scratch.path(), None), 160, 48);

    // The drift the demo made, the orphan and the commit not yet synced.
    let screen = tmux.wait_for("the demo's drift", |s| {
        row_of(s, "demo/settings").contains("Drifted")
            && row_of(s, "demo/report-exporter").contains("Orphaned")
    });
    assert!(
        row_of(&screen, "demo/worker").contains("Missing"),
        "{screen}"
    );
    assert!(
        row_of(&screen, "demo/settings").contains("2 fields"),
        "{screen}"
    );
    let dir = demo_dir(&tmp);
    let repo = dir.join("env-repo");
    let kubeconfig = dir.join("kubeconfig");
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let parent = git(&repo, &["rev-parse", "HEAD~1"]);
    assert!(
        screen.contains(&format!("Resources @{}", &head[..7])),
        "{screen}"
    );
    // History: the sample repo's first-parent log, newest first, as `git log` has it.
    let log = git(&repo, &["log", "--first-parent", "--format=%h %s"]);
    assert_eq!(log.lines().count(), 8, "{log}");
    for line in log.lines() {
        let (short, subject) = line.split_once(' ').unwrap();
        let shown = screen
            .lines()
            .find(|l| l.contains(&format!("│{}", &short[..7])))
            .unwrap_or_else(|| panic!("{short} not in the history pane:\n{screen}"));
        let start: String = subject.chars().take(20).collect();
        assert!(shown.contains(&start), "{shown} / {subject}");
    }

    // Walking the history re-evaluates at HEAD~1: CACHE_TTL is not in git there, one field less.
    tmux.keys(&["j"]);
    tmux.wait_for("HEAD~1 evaluated", |s| {
        s.contains(&format!("Resources @{}", &parent[..7]))
            && row_of(s, "demo/settings").contains("1 field")
    });
    tmux.keys(&["k"]);
    tmux.wait_for("HEAD evaluated again", |s| {
        s.contains(&format!("Resources @{}", &head[..7]))
            && row_of(s, "demo/settings").contains("2 fields")
    });

    // The diff of settings: live's debug against git's info.
    tmux.keys(&["Tab", "/", "s", "e", "t", "t", "Enter"]);
    tmux.wait_for("the settings diff", |s| {
        s.contains(&format!("Diff live → git@{}", &head[..7]))
            && s.contains("ConfigMap settings -n demo")
            && s.contains("LOG_LEVEL: debug")
            && s.contains("LOG_LEVEL: info")
    });

    // Its blame: each line with the commit git blames it on; the drifted line marked with the
    // live value and who wrote it.
    tmux.keys(&["b"]);
    let screen = tmux.wait_for("the git blame", |s| {
        s.contains(&format!("Blame git@{}", &head[..7])) && s.contains("CACHE_TTL")
    });
    let file = "envs/demo/settings.yaml";
    for text in ["LOG_LEVEL: info", "CACHE_TTL", "kind: ConfigMap"] {
        let commit = git_blame_commit(&repo, file, text);
        let line = screen
            .lines()
            .map(detail_part)
            .find(|l| l.contains(text))
            .unwrap_or_else(|| panic!("{text} not blamed:\n{screen}"));
        assert!(line.contains(&commit[..7]), "{text}: want {commit}: {line}");
    }
    let drifted = screen
        .lines()
        .map(detail_part)
        .find(|l| l.contains("LOG_LEVEL"))
        .unwrap();
    assert!(
        drifted.contains(" ~ ") && drifted.contains("live: debug (kubectl-edit)"),
        "{drifted}"
    );

    // Sync settings: the plan names the fields and the manager they are taken from.
    tmux.keys(&["s"]);
    let screen = tmux.wait_for("the sync plan", |s| s.contains("y sync · n cancel"));
    assert!(
        screen.contains("configure ConfigMap settings -n demo: data.LOG_LEVEL, data.CACHE_TTL"),
        "{screen}"
    );
    assert!(
        screen.contains("takes over data.LOG_LEVEL from kubectl-edit"),
        "{screen}"
    );
    tmux.keys(&["y"]);
    tmux.wait_for("settings turning Synced", |s| {
        row_of(s, "demo/settings").contains("Synced")
            && s.contains(&format!(
                "sync: 0 created, 1 configured, 0 unchanged at {}",
                &head[..7]
            ))
    });
    // The real kubectl sees what the UI says it wrote.
    let live = kubectl_json(
        &kubeconfig,
        &home,
        &["get", "configmap", "settings", "-n", "demo"],
    );
    assert_eq!(live["data"]["LOG_LEVEL"], "info", "{live}");
    assert_eq!(live["data"]["CACHE_TTL"], "300", "{live}");
    assert_eq!(
        live["metadata"]["annotations"]["kubectl-gitops.io/revision"],
        head.as_str(),
        "{live}"
    );

    // Quit: exit 0, the kept directory named, the terminal as it was.
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the exit", |s| s.contains("EXIT=0"));
    assert!(
        screen.contains(&format!("demo kept in {}", dir.display())),
        "{screen}"
    );
    let (before, after) = stty_before_and_after(scratch.path());
    assert_eq!(after, before, "terminal settings restored");

    // Nothing the demo showed held the Secret's value.
    let seen = tmux.seen.borrow();
    for value in SECRET_VALUES {
        assert!(
            !seen.iter().any(|s| s.contains(value)),
            "{value} was on the screen"
        );
    }
}

#[test]
fn the_ui_leaves_when_its_terminal_goes_away() {
    let (scratch, demo) = demo_command("kgo-demo-ui-", &[]);
    let tmp = scratch.path().join("tmp");
    // stderr to a file, as a user redirecting the log would have it: nothing else keeps the
    // process from noticing the terminal is gone.
    let stderr = scratch.path().join("stderr");
    let line = ui_line(&demo, scratch.path(), Some(&stderr));
    let tmux = Tmux::start(&line, 120, 40);
    tmux.wait_for("the demo's drift", |s| {
        row_of(s, "demo/settings").contains("Drifted")
    });
    let pid = tmux.child_pid();
    // A UI that failed to leave must not outlive the test.
    struct KillOnDrop(String);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = Command::new("kill").args(["-KILL", &self.0]).status();
        }
    }
    let _guard = KillOnDrop(pid.clone());
    assert!(demo_dir(&tmp).is_dir());

    // The terminal goes away (a closed terminal window, a dropped ssh session): SIGHUP.
    drop(tmux);
    let gone = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_or(true, |stat| stat.split(' ').nth(2) == Some("Z"))
    };
    common::poll_until(SHOW, "the UI process to leave after the hangup", || {
        gone(&pid).then_some(())
    });
    // It left the way it leaves on SIGTERM: the demo's directory removed, its sandbox stopped.
    common::poll_until(SHOW, "the demo's directory removed", || {
        std::fs::read_dir(&tmp)
            .unwrap()
            .next()
            .is_none()
            .then_some(())
    });
}

/// The row of `name` in the Resources pane under a mark (the left column), or "".
fn marked_row_of<'a>(screen: &'a str, name: &str) -> &'a str {
    screen
        .lines()
        .map(|l| l.split_once("││").map_or(l, |(left, _)| left))
        .find(|l| {
            l.contains(&format!(" {name} "))
                && ["Added", "Modified", "Removed"]
                    .iter()
                    .any(|c| l.contains(c))
        })
        .unwrap_or("")
}

#[test]
fn demo_marks_a_commit_and_lists_what_changed_since() {
    let (scratch, demo) = demo_command("kgo-demo-mark-", &[]);
    let tmp = scratch.path().join("tmp");
    let tmux = Tmux::start(&ui_line(&demo, scratch.path(), None), 160, 48);
    tmux.wait_for("the demo's drift", |s| {
        row_of(s, "demo/settings").contains("Drifted")
    });
    let repo = demo_dir(&tmp).join("env-repo");
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let older = git(&repo, &["rev-parse", "HEAD~2"]);

    // What git says changed between the two commits below the environment's path, renames
    // found (the Secret's file was renamed, its content kept: not a change of the resource).
    let changed = git(
        &repo,
        &[
            "diff",
            "--name-status",
            "-M",
            &older,
            &head,
            "--",
            "envs/demo",
        ],
    );
    let mut expected: Vec<(String, &str)> = Vec::new();
    let mut renamed = Vec::new();
    for line in changed.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let stem = |file: &str| {
            Path::new(file)
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        };
        match fields[0] {
            "A" => expected.push((stem(fields[1]), "Added")),
            "M" => expected.push((stem(fields[1]), "Modified")),
            "D" => expected.push((stem(fields[1]), "Removed")),
            r if r.starts_with('R') => renamed.push(stem(fields[2])),
            other => panic!("unexpected {other} in {changed}"),
        }
    }
    // The sample repo's last two commits: the exporter replaced by the worker, web scaled and
    // a settings key added; the file rename before them is not in the range.
    assert_eq!(expected.len(), 4, "{changed}");
    assert!(renamed.is_empty(), "{changed}");

    // Mark HEAD~2, then walk back up to HEAD.
    tmux.keys(&["j", "j"]);
    tmux.wait_for("HEAD~2 evaluated", |s| {
        s.contains(&format!("Resources @{}", &older[..7]))
    });
    tmux.keys(&["m"]);
    tmux.wait_for("the mark", |s| {
        s.contains(&format!("mark {}", &older[..7]))
            && s.contains("select another commit in History")
    });
    tmux.keys(&["k", "k"]);
    let title = format!("Resources {} → {}", &older[..7], &head[..7]);
    let screen = tmux.wait_for("the resources changed between the two", |s| {
        s.contains(&title)
            && !s.contains("comparing")
            && expected
                .iter()
                .all(|(name, change)| marked_row_of(s, &format!("demo/{name}")).contains(change))
    });
    // web.yaml holds the web Deployment and Service: only the Deployment changed.
    let web = marked_row_of(&screen, "demo/web");
    assert!(
        web.contains("Deployment") && web.contains("1 field"),
        "{web}"
    );
    assert!(
        !screen
            .lines()
            .any(|l| l.contains("Service") && l.contains("demo/web") && l.contains("Modified")),
        "{screen}"
    );
    // Unchanged resources are not listed: the api, its Secret, the namespace.
    for name in ["demo/api", "demo/api-credentials", "demo"] {
        assert_eq!(marked_row_of(&screen, name), "", "{name}:\n{screen}");
    }
    assert!(
        screen.contains(&format!("{title} +1 ~2 -1")),
        "{title} +1 ~2 -1:\n{screen}"
    );
    // Removed first: the exporter's rendered diff, the mark on the left.
    assert!(
        screen.contains(&format!(
            "Diff git@{} → git@{} · Deployment.apps report-exporter -n demo",
            &older[..7],
            &head[..7]
        )),
        "{screen}"
    );
    assert!(
        screen.lines().any(|l| l.contains("name: exporter")),
        "{screen}"
    );

    // Esc in History clears the mark: the live drift of HEAD again.
    tmux.keys(&["Escape"]);
    tmux.wait_for("the mark cleared", |s| {
        s.contains(&format!("Resources @{}", &head[..7]))
            && row_of(s, "demo/settings").contains("Drifted")
            && !s.contains(&format!("mark {}", &older[..7]))
    });
    tmux.keys(&["q"]);
    tmux.wait_for("the exit", |s| s.contains("EXIT=0"));
    let seen = tmux.seen.borrow();
    for value in SECRET_VALUES {
        assert!(
            !seen.iter().any(|s| s.contains(value)),
            "{value} was on the screen"
        );
    }
}
