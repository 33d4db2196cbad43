//! Secrets and credentials never leak (SPEC §4, issue #7): Secret values from git and from the
//! cluster, in plain text and base64, never appear in any command's output at `-vvv` (stdout,
//! stderr, and the files `KUBECTL_EXTERNAL_DIFF` is given); the kubeconfig's token and client
//! key are never logged; TLS verification is on by default. The terminal UI too: every screen
//! it draws (captured from tmux with and without escapes), its frame log and its `-vvv` log.

mod cli_env;
mod common;
mod tmux;

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cli_env::{EnvRepo, Gitops, Run, config_map};
use common::TestCluster;
use tmux::{Tmux, ui_line};

/// Distinctive Secret values: `(where, plain)`. Each is searched plain and in base64.
const VALUES: [(&str, &str); 7] = [
    ("git data", "git-data-pw-5e1c9a"),
    ("git stringData", "git-string-token-8b2d7f"),
    ("git unchanged", "git-same-value-3a6e0c"),
    ("live data", "live-data-pw-c47d21"),
    ("live added key", "live-extra-key-9f03be"),
    ("git second secret", "git-other-secret-71ad44"),
    ("git previous commit", "git-older-pw-0d5f8e"),
];

/// Every form of every value a leak could take.
fn needles() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (what, plain) in VALUES {
        out.push((format!("{what} (plain)"), plain.to_owned()));
        out.push((format!("{what} (base64)"), STANDARD.encode(plain)));
        // A value embedded in a longer base64 string (e.g. the last-applied annotation's JSON
        // encoded again) shows up at another alignment; its middle is stable enough.
        let b64 = STANDARD.encode(plain);
        out.push((
            format!("{what} (base64 core)"),
            b64[4..b64.len() - 4].to_owned(),
        ));
        // A Secret's base64 `data` value shown as if it were plain text and encoded again.
        out.push((format!("{what} (base64 of base64)"), STANDARD.encode(&b64)));
    }
    out
}

fn secret(ns: &str, name: &str, data: &[(&str, &str)], string_data: &[(&str, &str)]) -> String {
    let mut text = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\ntype: Opaque\n"
    );
    if !data.is_empty() {
        text.push_str("data:\n");
        for (k, v) in data {
            text.push_str(&format!("  {k}: {}\n", STANDARD.encode(v)));
        }
    }
    if !string_data.is_empty() {
        text.push_str("stringData:\n");
        for (k, v) in string_data {
            text.push_str(&format!("  {k}: {v}\n"));
        }
    }
    text
}

/// A repo with two Secrets and a ConfigMap; the cluster got them with client-side
/// `kubectl apply` (so the last-applied annotation holds git's values), then Secret `creds`
/// was changed live: a value replaced, a key added.
fn drifted() -> (TestCluster, EnvRepo) {
    let cluster = TestCluster::start();
    let ns = cluster.namespace().to_owned();
    let creds = secret(
        &ns,
        "creds",
        &[("password", VALUES[0].1), ("same", VALUES[2].1)],
        &[("token", VALUES[1].1)],
    );
    let other = secret(&ns, "other", &[("key", VALUES[5].1)], &[]);
    let mut repo = EnvRepo::new();
    // An older commit with another password, so history and blame walk a Secret change.
    let older = secret(
        &ns,
        "creds",
        &[("password", VALUES[6].1), ("same", VALUES[2].1)],
        &[],
    );
    repo.commit("first secrets", &[("creds.yaml", &older)]);
    repo.commit(
        "secrets",
        &[
            ("creds.yaml", &creds),
            ("other.yaml", &other),
            ("settings.yaml", &config_map(&ns, "info")),
        ],
    );
    for manifest in [&creds, &other, &config_map(&ns, "info")] {
        cluster
            .kubectl_stdin(&["apply", "-f", "-"], manifest)
            .success();
    }
    let patch = format!(
        r#"{{"data":{{"password":"{}","extra":"{}"}}}}"#,
        STANDARD.encode(VALUES[3].1),
        STANDARD.encode(VALUES[4].1)
    );
    cluster
        .kubectl(&["patch", "secret", "creds", "--type", "merge", "-p", &patch])
        .success();
    (cluster, repo)
}

/// Fails listing every needle found in `text`.
fn scan(text: &str, how: &str, found: &mut Vec<String>) {
    for (what, needle) in needles() {
        if text.contains(&needle) {
            found.push(format!("{what} {needle:?} in {how}"));
        }
    }
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files_below(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn no_command_or_format_prints_a_secret_value() {
    let (cluster, repo) = drifted();
    // The live Secret really holds both sides' values, so a leak would be visible.
    let live = cluster.get_json(&["secret", "creds"]);
    assert_eq!(live["data"]["password"], STANDARD.encode(VALUES[3].1));
    let last_applied =
        live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .unwrap();
    assert!(last_applied.contains(&STANDARD.encode(VALUES[0].1)));

    let gitops = Gitops::new(&cluster, &repo);
    let capture = cluster.scratch().join("external-diff");
    let script = cluster.scratch().join("capture-diff.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nmkdir -p '{0}'\ncp -R \"$1\" '{0}/from' && cp -R \"$2\" '{0}/to'\nexit 1\n",
            capture.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .args(["+x", script.to_str().unwrap()])
        .status()
        .unwrap();

    // (arguments, exit code): drift is 1 for status/diff/sync --dry-run (SPEC §5).
    let commands: Vec<(Vec<&str>, i32)> = vec![
        (vec!["status"], 1),
        (vec!["status", "-o", "wide"], 1),
        (vec!["status", "-o", "json"], 1),
        (vec!["status", "-o", "yaml"], 1),
        (vec!["status", "-o", "porcelain"], 1),
        (vec!["status", "--diff-strategy", "client", "-o", "json"], 1),
        (vec!["diff"], 1),
        (vec!["diff", "--side-by-side"], 1),
        (vec!["diff", "-o", "json"], 1),
        (vec!["diff", "-o", "yaml"], 1),
        (vec!["diff", "secret/creds", "--diff-strategy", "client"], 1),
        (vec!["diff", "--color", "always", "secret/creds"], 1),
        // Two commits, no cluster: the older password against the newer ones.
        (vec!["diff", "--from", "HEAD~1"], 1),
        (vec!["diff", "--from", "HEAD~1", "--side-by-side"], 1),
        (vec!["diff", "--from", "HEAD~1", "--color", "always"], 1),
        (vec!["diff", "--from", "HEAD~1", "-o", "json"], 1),
        (vec!["diff", "--from", "HEAD~1", "-o", "yaml"], 1),
        (vec!["diff", "--from", "HEAD~1", "-o", "porcelain"], 1),
        (vec!["diff", "--from", "HEAD~1", "-o", "markdown"], 1),
        (
            vec!["diff", "--from", "HEAD~1", "--rev", "HEAD", "secret/creds"],
            1,
        ),
        (vec!["history"], 0),
        (vec!["history", "-p"], 0),
        (vec!["history", "-p", "-o", "json"], 0),
        (vec!["history", "-p", "secret/creds"], 0),
        (vec!["history", "-p", "--offline"], 0),
        (vec!["blame", "secret/creds"], 0),
        (vec!["blame", "secret/creds", "-o", "porcelain"], 0),
        (vec!["blame", "secret/creds", "-o", "json"], 0),
        (vec!["blame", "secret/creds", "--rev", "HEAD~1"], 0),
        (vec!["blame", "--live", "secret/creds"], 0),
        (
            vec!["blame", "--live", "secret/creds", "-o", "porcelain"],
            0,
        ),
        (vec!["blame", "--live", "secret/creds", "-o", "json"], 0),
        (vec!["sync", "--dry-run"], 1),
        (vec!["sync", "--dry-run", "-o", "json"], 1),
        (
            vec!["sync", "--dry-run", "--rev", "HEAD~1", "secret/creds"],
            1,
        ),
        // The write last: everything above saw both sides' values.
        (vec!["sync", "--yes", "-o", "json"], 0),
        (vec!["sync", "--yes"], 0),
    ];
    let mut found = Vec::new();
    let mut runs: Vec<(String, Run)> = Vec::new();
    for (args, code) in &commands {
        let mut args = args.clone();
        args.insert(0, "-vvv");
        let run = gitops.run(&args);
        assert_eq!(run.code, *code, "{}\n{run}", args.join(" "));
        runs.push((args.join(" "), run));
        if runs.len() == 12 {
            // Before any sync: the external diff sees both sides' values.
            let external = gitops.run_env(
                &["-vvv", "diff"],
                &[("KUBECTL_EXTERNAL_DIFF", script.to_str().unwrap())],
            );
            assert_eq!(external.code, 1, "{external}");
            runs.push(("KUBECTL_EXTERNAL_DIFF diff".into(), external));
        }
    }

    for (how, run) in &runs {
        assert!(!run.stderr.contains("panicked"), "{how}\n{run}");
        scan(&run.stdout, &format!("stdout of {how}"), &mut found);
        scan(&run.stderr, &format!("stderr of {how}"), &mut found);
    }
    let captured = files_below(&capture);
    assert!(
        captured
            .iter()
            .any(|f| f.to_string_lossy().contains("creds")),
        "the external diff program got the Secret's files: {captured:?}"
    );
    for file in &captured {
        let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
        scan(&text, &file.display().to_string(), &mut found);
    }
    assert!(
        found.is_empty(),
        "secret values leaked:\n{}",
        found.join("\n")
    );

    // Not vacuous: the Secret is compared and shown drifted, with masks in place of values.
    let status = &runs[2].1;
    let creds = status.json()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "creds")
        .cloned()
        .unwrap();
    assert_eq!(creds["status"], "Drifted", "{status}");
    let diff = &runs[6].1;
    assert!(
        diff.stdout.contains("++++++++"),
        "masks in the diff\n{diff}"
    );
    let from = runs
        .iter()
        .find(|(how, _)| how.ends_with("diff --from HEAD~1 -o json"))
        .map(|(_, run)| run.json())
        .unwrap();
    let changed = from["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "creds")
        .unwrap();
    assert_eq!(changed["status"], "modified", "{from}");
    assert!(
        changed["changes"][0]["live"]
            .as_str()
            .is_some_and(|v| v.starts_with("++++++++")),
        "{from}"
    );
    assert!(
        runs.iter()
            .any(|(_, r)| r.stderr.contains("DEBUG") || r.stderr.contains("TRACE")),
        "-vvv logs something"
    );
    let synced = cluster.get_json(&["secret", "creds"]);
    assert_eq!(
        synced["data"]["password"],
        STANDARD.encode(VALUES[0].1),
        "the sync applied git's value"
    );
}

/// A kubeconfig with a distinctive token and a client certificate and key (made with
/// openssl), for `server`.
fn credentials_kubeconfig(dir: &Path, server: &str, extra_cluster: &str) -> (PathBuf, Vec<String>) {
    let key = dir.join("client.key");
    let cert = dir.join("client.crt");
    let out = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=kgo-leak-test"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed to make a client key");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key_pem = std::fs::read_to_string(&key).unwrap();
    let cert_pem = std::fs::read_to_string(&cert).unwrap();
    let token = "kgo-token-d81f5a2c0b9e47";
    let path = dir.join("credentials.kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n{extra_cluster}contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: {token}\n    client-certificate-data: {}\n    client-key-data: {}\n",
            STANDARD.encode(&cert_pem),
            STANDARD.encode(&key_pem)
        ),
    )
    .unwrap();
    // Lines of the PEM body, and the base64 of the whole PEM as the kubeconfig holds it.
    let mut secrets: Vec<String> = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 40)
        .map(str::to_owned)
        .collect();
    secrets.push(STANDARD.encode(&key_pem)[40..120].to_owned());
    secrets.push(token.to_owned());
    (path, secrets)
}

#[test]
fn tokens_and_client_keys_are_never_logged() {
    let cluster = TestCluster::start();
    let repo = cli_env::settings_only(&cluster);
    cluster
        .apply(&config_map(cluster.namespace(), "info"))
        .success();
    let server = cluster
        .kubectl_raw(&[
            "config",
            "view",
            "--minify",
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
        ])
        .success()
        .stdout;
    let server = server.trim().to_owned();
    let mut extra = String::new();
    if server.starts_with("https") {
        // A real cluster: keep its CA so the connection gets as far as it can.
        let ca = cluster
            .kubectl_raw(&[
                "config",
                "view",
                "--minify",
                "--raw",
                "-o",
                "jsonpath={.clusters[0].cluster.certificate-authority-data}",
            ])
            .success()
            .stdout;
        extra = format!("    certificate-authority-data: {}\n", ca.trim());
    }
    let (kubeconfig, secrets) = credentials_kubeconfig(cluster.scratch(), &server, &extra);
    let gitops = Gitops::new(&cluster, &repo);
    let mut runs = Vec::new();
    for args in [
        vec!["-vvv", "status"],
        vec!["-vvv", "diff", "-o", "json"],
        vec!["-vvv", "status", "--context", "no-such-context"],
    ] {
        runs.push(gitops.run_env(&args, &[("KUBECONFIG", kubeconfig.to_str().unwrap())]));
    }
    for run in &runs {
        assert!(!run.stderr.contains("panicked"), "{run}");
        for secret in &secrets {
            assert!(
                !run.stdout.contains(secret.as_str()) && !run.stderr.contains(secret.as_str()),
                "credential {secret:?} printed\n{run}"
            );
        }
    }
    assert!(
        runs[2].code == 2 && runs[2].stderr.contains("no-such-context"),
        "{}",
        runs[2]
    );
}

#[test]
fn tls_verification_is_on_by_default() {
    let cluster = TestCluster::start();
    let repo = cli_env::settings_only(&cluster);
    let dir = cluster.scratch().join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    let (key, cert) = (dir.join("server.key"), dir.join("server.crt"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // A self-signed TLS server: openssl's, on a free port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(port.to_string())
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::poll_until(
        std::time::Duration::from_secs(20),
        "openssl s_server listening",
        || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .is_ok()
                .then_some(())
        },
    );
    let server_url = format!("https://127.0.0.1:{port}");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: selfsigned\n  cluster:\n    server: {server_url}\ncontexts:\n- name: selfsigned\n  context:\n    cluster: selfsigned\n    user: u\ncurrent-context: selfsigned\nusers:\n- name: u\n  user:\n    token: x\n"
        ),
    )
    .unwrap();
    let run = Gitops::new(&cluster, &repo)
        .run_env(&["status"], &[("KUBECONFIG", kubeconfig.to_str().unwrap())]);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(run.code, 2, "{run}");
    let error = run
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line\n{run}"));
    assert!(error.contains(&server_url), "names the server\n{run}");
    let lower = error.to_ascii_lowercase();
    assert!(
        lower.contains("certificate") || lower.contains("tls"),
        "says the certificate is not trusted\n{run}"
    );
    assert!(run.stdout.is_empty(), "{run}");
}

/// SPEC §4/§9: the UI shows Secrets masked. Every screen of a walk through the Resources list,
/// the drifted Secret's diff (both layouts, at HEAD and at the older commit), its git and live
/// blame, its history, the sync plans and the help is captured (with and without escapes) and
/// scanned for every value in every encoding; so are the frame log and the `-vvv` log.
#[test]
fn the_ui_never_draws_a_secret_value() {
    let (cluster, repo) = drifted();
    let gitops = Gitops::new(&cluster, &repo);
    let scratch = cluster.scratch().join("ui-leak");
    std::fs::create_dir_all(&scratch).unwrap();
    let frame_log = scratch.join("frames.log");
    let stderr_log = scratch.join("ui.stderr");
    let mut cmd = gitops.command(&["-vvv", "ui"]);
    cmd.env("KUBECTL_GITOPS_FRAME_LOG", &frame_log);
    let tmux = Tmux::start(&ui_line(&cmd, &scratch, Some(&stderr_log)), 200, 60);

    let mut screens: Vec<(String, String)> = Vec::new();
    let mut shot = |tmux: &Tmux, name: &str, screen: String| {
        screens.push((format!("{name} (text)"), screen));
        screens.push((format!("{name} (escapes)"), tmux.capture(true)));
    };
    let creds_row = |s: &str| {
        s.lines()
            .any(|l| l.contains("/creds ") && l.contains("Drifted"))
    };
    // The Resources list: creds drifted, first in the list and selected; its diff open.
    let screen = tmux.wait_for("creds drifted and its diff", |s| {
        creds_row(s) && s.contains("Diff live → git@") && s.contains("password")
    });
    assert!(screen.contains("++++++++"), "masks in the diff\n{screen}");
    shot(&tmux, "resources + side-by-side diff", screen);
    tmux.keys(&["Tab", "d"]);
    let screen = tmux.wait_for("the unified diff", |s| {
        s.contains("· unified") && s.contains("password")
    });
    shot(&tmux, "unified diff", screen);
    tmux.keys(&["b"]);
    let screen = tmux.wait_for("the git blame", |s| {
        s.contains("Blame git@") && s.contains("password:") && s.contains("kind: Secret")
    });
    shot(&tmux, "git blame", screen);
    tmux.keys(&["b"]);
    let screen = tmux.wait_for("the live blame", |s| {
        s.contains("Blame live") && s.contains("extra:")
    });
    shot(&tmux, "live blame", screen);
    tmux.keys(&["h"]);
    let screen = tmux.wait_for("the resource history", |s| {
        s.contains("History · Secret creds") && s.contains("first secrets")
    });
    shot(&tmux, "resource history", screen);
    tmux.keys(&["d"]);
    let screen = tmux.wait_for("back to the diff", |s| s.contains("Diff live → git@"));
    shot(&tmux, "diff again", screen);
    tmux.keys(&["s"]);
    let screen = tmux.wait_for("the sync plan of creds", |s| {
        s.contains("y sync · n cancel") && s.contains("Secret creds")
    });
    shot(&tmux, "sync plan (one)", screen);
    tmux.keys(&["n"]);
    tmux.wait_for("the plan closed", |s| !s.contains("y sync · n cancel"));
    tmux.keys(&["S"]);
    let screen = tmux.wait_for("the sync-all plan", |s| s.contains("y sync · n cancel"));
    shot(&tmux, "sync plan (all)", screen);
    tmux.keys(&["n"]);
    tmux.wait_for("the plan closed", |s| !s.contains("y sync · n cancel"));
    tmux.keys(&["?"]);
    let screen = tmux.wait_for("help", |s| s.contains(" Keys "));
    shot(&tmux, "help", screen);
    tmux.keys(&["Escape"]);
    tmux.wait_for("help closed", |s| !s.contains(" Keys "));
    // The older commit, where creds held another password: its diff, both layouts.
    tmux.keys(&["BTab", "j"]);
    let first = repo
        .git(&["rev-parse", "--short=7", "HEAD~1"])
        .trim()
        .to_owned();
    let screen = tmux.wait_for("the first commit evaluated", |s| {
        s.contains(&format!("Resources @{first}"))
            && s.contains(&format!("Diff live → git@{first}"))
            && s.contains("password")
    });
    shot(&tmux, "older commit diff", screen);
    tmux.keys(&["Tab", "Tab", "d"]);
    let screen = tmux.wait_for("the older commit's other layout", |s| {
        s.contains("side by side") || s.contains("unified")
    });
    shot(&tmux, "older commit diff, other layout", screen);
    tmux.keys(&["q"]);
    tmux.wait_for("the exit", |s| s.contains("EXIT=0"));

    let mut found = Vec::new();
    for (name, screen) in &screens {
        scan(screen, &format!("screen {name}"), &mut found);
    }
    let frames = std::fs::read_to_string(&frame_log).unwrap_or_default();
    assert!(frames.contains("first-frame"), "the frame log was written");
    scan(&frames, "the frame log", &mut found);
    let stderr = std::fs::read_to_string(&stderr_log).unwrap_or_default();
    assert!(
        stderr.contains("DEBUG") || stderr.contains("TRACE"),
        "-vvv logs something:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    scan(&stderr, "the UI's -vvv log", &mut found);
    for file in files_below(&scratch) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        scan(&text, &file.display().to_string(), &mut found);
    }
    eprintln!(
        "scanned {} screens x {} needles ({} values), the frame log ({} bytes) and the log ({} bytes)",
        screens.len(),
        needles().len(),
        VALUES.len(),
        frames.len(),
        stderr.len()
    );
    assert!(
        found.is_empty(),
        "secret values drawn or logged by the UI:\n{}",
        found.join("\n")
    );
}
