//! The UI under faults (issue #7, SPEC §9 "errors show in the UI and never crash it"): on 320
//! resources behind a sandbox answering 15% 500s, 10% 429s, with latency and dropped watches,
//! it shows the states `status` gives, keeps answering keys, shows a connection error when the
//! sandbox dies and keeps running, and recovers unasked when it is back on the same port with
//! the same `--state`: rows back, live changes shown again. The terminal is restored on quit.

mod cli_env;
mod common;
mod fault_sandbox;
mod tmux;

use std::time::{Duration, Instant};

use common::poll_until;
use fault_sandbox::{FAULTS, NS, Sandbox, prepared, rows};
use tmux::{Tmux, ui_line};

/// How long the UI may take to show something: generous, for a loaded CI machine and the
/// injected faults (each retried after a backoff or `Retry-After: 1`).
const SHOW: Duration = Duration::from_secs(60);

/// The Resources pane's title line.
fn resources_title(screen: &str) -> &str {
    screen
        .lines()
        .find(|l| l.contains(" Resources @"))
        .unwrap_or("")
}

/// Whether the title shows exactly these counts, the evaluation finished (not refining).
fn shows_counts(screen: &str, counts: &[(&str, usize)]) -> bool {
    let title = resources_title(screen);
    !title.contains("refining")
        && counts
            .iter()
            .all(|(symbol, n)| title.contains(&format!(" {symbol}{n} ")))
}

/// The names of the ConfigMaps listed on the screen with `state`.
fn listed(screen: &str, state: &str) -> Vec<String> {
    let mut names: Vec<String> = screen
        .lines()
        .filter(|l| l.contains(state))
        .filter_map(|l| {
            let start = l.find(&format!("{NS}/cm-"))? + NS.len() + 1;
            Some(l[start..start + 6].to_owned())
        })
        .collect();
    names.sort();
    names
}

#[test]
fn the_ui_survives_faults_and_recovers_from_a_sandbox_restart() {
    let count = 320;
    // 300 live: 288 synced, 12 drifted (every 25th); 20 missing.
    let (dir, repo, healthy) = prepared(count, 300, 25);
    healthy.stop();
    let faulty = Sandbox::start(dir.path(), &FAULTS);
    let port = faulty.port();

    // What `status` says on the same repo, under the same faults.
    let status = faulty.gitops(&repo, &["status", "-o", "json"]);
    assert_eq!(status.code, 1, "{status}");
    let expected = rows(&status);
    let names_in = |state: &str| -> Vec<String> {
        expected
            .iter()
            .filter(|r| r.2 == state)
            .map(|r| r.1.clone())
            .collect()
    };
    let drifted = names_in("Drifted");
    let counts = [
        ("✓", names_in("Synced").len()),
        ("~", drifted.len()),
        ("-", names_in("Missing").len()),
    ];
    assert_eq!(counts.map(|c| c.1), [288, 12, 20], "{status}");

    let scratch = dir.path().join("ui");
    std::fs::create_dir_all(&scratch).unwrap();
    let stderr = scratch.join("ui.stderr");
    let tmux = Tmux::start(
        &ui_line(&faulty.command(&repo, &["ui"]), &scratch, Some(&stderr)),
        160,
        48,
    )
    .patience(SHOW);

    // Evaluated under faults: the same counts as `status`, and the same drifted rows.
    tmux.wait_for("the 320 resources evaluated as status says", |s| {
        shows_counts(s, &counts)
    });
    tmux.keys(&["/", "state:drifted", "Enter"]);
    let screen = tmux.wait_for("the drifted filter", |s| {
        s.contains("12 shown /state:drifted") && listed(s, "Drifted") == drifted
    });
    assert_eq!(listed(&screen, "Drifted"), drifted, "{screen}");

    // Keys keep answering: another filter, a row's diff, navigation, help.
    tmux.keys(&["Escape"]);
    tmux.wait_for("the filter cleared", |s| !s.contains(" shown /"));
    tmux.keys(&["/", "cm-025", "Enter"]);
    tmux.wait_for("cm-025's diff: live against git", |s| {
        s.contains("1 shown /cm-025")
            && s.contains("Diff live → git@")
            && s.contains("cm-025")
            && s.contains("value: live")
            && s.contains("value: git")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the filter cleared", |s| !s.contains(" shown /"));
    tmux.keys(&["G"]);
    // Sorted by state, those needing attention first (SPEC §9): the synced ones last, the last
    // of them selected and shown.
    let last_synced = names_in("Synced").into_iter().max().unwrap();
    tmux.wait_for("the last row selected", |s| {
        s.contains(&format!("{NS}/{last_synced}"))
            && s.contains(&format!("ConfigMap {last_synced} -n {NS}"))
    });
    tmux.keys(&["g", "?"]);
    tmux.wait_for("help", |s| s.contains(" Keys "));
    tmux.keys(&["Escape"]);
    tmux.wait_for("help closed", |s| !s.contains(" Keys "));

    // The sandbox dies: the UI says so and keeps running, its rows kept.
    faulty.kill();
    let died = Instant::now();
    let screen = tmux.wait_for("the connection error", |s| {
        s.contains("cannot reach the cluster") && s.contains(&port.to_string())
    });
    let error_shown = died.elapsed();
    assert!(!screen.contains("EXIT="), "the UI exited\n{screen}");
    assert!(shows_counts(&screen, &counts), "rows kept\n{screen}");
    tmux.keys(&["?"]);
    tmux.wait_for("help while the server is down", |s| s.contains(" Keys "));
    tmux.keys(&["Escape"]);
    tmux.wait_for("help closed", |s| !s.contains(" Keys "));

    // Back on the same port with the same state (and the same faults): the UI recovers unasked.
    let restarted = Sandbox::start_on(dir.path(), port, &FAULTS);
    let back = Instant::now();
    tmux.wait_for("the rows back and the error gone", |s| {
        !s.contains("cannot reach the cluster") && shows_counts(s, &counts)
    });
    let recovered = back.elapsed();
    // A change by kubectl after the restart shows unasked: one more drifted ConfigMap.
    restarted.kubectl(
        &[
            "patch",
            "configmap",
            "cm-001",
            "-n",
            NS,
            "--type",
            "merge",
            "-p",
            r#"{"data":{"value":"changed"}}"#,
        ],
        None,
    );
    let patched = Instant::now();
    let more_drift = [
        ("✓", counts[0].1 - 1),
        ("~", counts[1].1 + 1),
        ("-", counts[2].1),
    ];
    tmux.wait_for("cm-001 drifted after kubectl patch", |s| {
        shows_counts(s, &more_drift)
    });
    let live_change = patched.elapsed();
    eprintln!(
        "under the fault mix: connection error shown {error_shown:?} after the kill; rows back \
         {recovered:?} after the restart; a kubectl patch shown {live_change:?} after it"
    );

    tmux.keys(&["q"]);
    tmux.wait_for("the exit", |s| s.contains("EXIT=0"));
    let after = poll_until(SHOW, "stty after", || {
        std::fs::read_to_string(scratch.join("stty.after"))
            .ok()
            .filter(|s| !s.is_empty())
    });
    let before = std::fs::read_to_string(scratch.join("stty.before")).unwrap();
    assert_eq!(after, before, "terminal settings restored");
    let stderr = std::fs::read_to_string(scratch.join("ui.stderr")).unwrap_or_default();
    assert!(!stderr.contains("panicked"), "{stderr}");
}
