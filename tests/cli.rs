//! The binary end to end: version, completion, usage naming, flag errors, the sandbox lifecycle.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use assert_cmd::prelude::*;
use predicates::prelude::*;
use serde_json::Value;

/// The binary in a sealed environment: temp HOME, no KUBECONFIG, NO_COLOR, none of our env vars.
fn gitops(home: &Path) -> Command {
    let mut cmd = Command::new(common::gitops_binary());
    sealed(&mut cmd, home);
    cmd
}

fn sealed(cmd: &mut Command, home: &Path) {
    cmd.env_clear()
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("NO_COLOR", "1")
        .current_dir(home);
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
}

#[test]
fn version_prints_crate_version_and_commit() {
    let home = tempfile::tempdir().unwrap();
    let out = gitops(home.path()).arg("version").assert().success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let line = stdout.trim_end();
    let rest = line
        .strip_prefix(&format!(
            "kubectl-gitops {} (git ",
            env!("CARGO_PKG_VERSION")
        ))
        .unwrap_or_else(|| panic!("unexpected version line {line:?}"));
    let commit = rest.strip_suffix(')').unwrap();
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "commit {commit:?}"
    );
    assert_eq!(stdout.lines().count(), 1);
}

/// The executable is linked position-dependent on Linux (build.rs): the dynamic loader then
/// applies a handful of relocations at start instead of about 60,000 (ELF `e_type` is
/// `ET_EXEC`, 2, not `ET_DYN`, 3).
#[test]
#[cfg(target_os = "linux")]
fn the_executable_starts_without_relocating_itself() {
    let header = std::fs::read(env!("CARGO_BIN_EXE_kubectl-gitops")).unwrap();
    assert_eq!(&header[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([header[16], header[17]]), 2, "e_type");
}

#[test]
fn version_json_has_api_version() {
    let home = tempfile::tempdir().unwrap();
    let out = gitops(home.path())
        .args(["version", "-o", "json"])
        .assert()
        .success();
    let doc: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["apiVersion"], "kubectl-gitops/v1");
    assert_eq!(doc["kind"], "Version");
    assert_eq!(doc["version"], env!("CARGO_PKG_VERSION"));
    assert!(doc["gitCommit"].as_str().is_some_and(|c| !c.is_empty()));
}

#[test]
fn version_flag_matches_version_command() {
    let home = tempfile::tempdir().unwrap();
    gitops(home.path())
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::contains(env!("CARGO_PKG_VERSION")));
}

/// `completion bash | head -1`: the reader leaves early; the command ends quietly, no panic.
#[test]
fn completion_into_a_closed_pipe_ends_quietly() {
    let home = tempfile::tempdir().unwrap();
    let mut child = gitops(home.path())
        .args(["completion", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before the script is written: the write meets a broken pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn completion_scripts_name_the_subcommands() {
    let home = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef kubectl-gitops"),
        ("fish", "complete -c kubectl-gitops"),
    ] {
        let out = gitops(home.path())
            .args(["completion", shell])
            .assert()
            .success();
        let script = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        assert!(script.contains(marker), "{shell} script lacks {marker:?}");
        for sub in ["sandbox", "version", "completion"] {
            assert!(script.contains(sub), "{shell} script does not name {sub}");
        }
        assert!(
            script.contains("kubeconfig"),
            "{shell} script lacks global flags"
        );
    }
    gitops(home.path())
        .args(["completion", "tcsh"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("tcsh"));
}

#[test]
fn help_says_kubectl_gitops_for_the_plugin_binary() {
    let home = tempfile::tempdir().unwrap();
    gitops(home.path())
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Usage: kubectl gitops"))
        .stdout(predicate::str::contains("sandbox"));
    gitops(home.path())
        .args(["sandbox", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Usage: kubectl gitops sandbox"))
        .stdout(predicate::str::contains("--fail-rate"));
}

#[test]
fn help_uses_the_stem_under_another_name() {
    let home = tempfile::tempdir().unwrap();
    let renamed = home.path().join("kgo");
    // A link, not a copy: a copy's write handle, inherited by a child another test thread
    // forks meanwhile, makes the exec fail with ETXTBSY ("Text file busy").
    std::os::unix::fs::symlink(common::gitops_binary(), &renamed).unwrap();
    let mut cmd = Command::new(&renamed);
    sealed(&mut cmd, home.path());
    let out = cmd.arg("--help").assert().success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("Usage: kgo"), "{stdout}");
    assert!(!stdout.contains("kubectl gitops"), "{stdout}");
}

#[test]
fn unknown_flag_exits_2_naming_it() {
    let home = tempfile::tempdir().unwrap();
    gitops(home.path())
        .args(["version", "--no-such-flag"])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("--no-such-flag"));
}

#[test]
fn sandbox_rejects_fail_rate_outside_zero_to_one() {
    let home = tempfile::tempdir().unwrap();
    gitops(home.path())
        .args(["sandbox", "--fail-rate", "2"])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("--fail-rate"))
        .stderr(predicate::str::contains("outside 0..1"));
    gitops(home.path())
        .args(["sandbox", "--throttle-rate", "lots"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--throttle-rate"))
        .stderr(predicate::str::contains("not a number"));
}

/// A `kubectl-gitops sandbox --port 0` child and what it announced.
struct SandboxProcess {
    child: Child,
    lines: Receiver<String>,
    stderr: Receiver<String>,
    kubeconfig: PathBuf,
    ready_line: String,
}

impl SandboxProcess {
    fn start(home: &Path, extra: &[&str]) -> SandboxProcess {
        let kubeconfig = home.join("out").join("kubeconfig");
        std::fs::create_dir_all(kubeconfig.parent().unwrap()).unwrap();
        let mut cmd = gitops(home);
        cmd.args(["sandbox", "--port", "0", "--kubeconfig-out"])
            .arg(&kubeconfig)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let lines = common::line_channel(child.stdout.take().unwrap());
        let stderr = common::line_channel(child.stderr.take().unwrap());
        let ready_line = match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let err: Vec<String> = stderr.try_iter().collect();
                panic!("no ready line ({e:?}); stderr:\n{}", err.join("\n"));
            }
        };
        SandboxProcess {
            child,
            lines,
            stderr,
            kubeconfig,
            ready_line,
        }
    }

    /// `host:port` from the kubeconfig it wrote.
    fn addr(&self) -> String {
        let doc = self.kubeconfig_doc();
        let server = doc["clusters"][0]["cluster"]["server"]
            .as_str()
            .unwrap()
            .to_string();
        server
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("server {server} is not http://"))
            .to_string()
    }

    fn kubeconfig_doc(&self) -> Value {
        let text = std::fs::read_to_string(&self.kubeconfig).unwrap();
        serde_saphyr::from_str(&text).unwrap()
    }

    /// GET `path` over plain HTTP/1.1; returns the status line and the JSON body.
    fn get_json(&self, path: &str) -> (String, Value) {
        self.request("GET", path, None)
    }

    /// One HTTP/1.1 request with an optional JSON body; returns the status line and JSON body.
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (String, Value) {
        let (head, body) = self.raw_request(method, path, body);
        let status = head.lines().next().unwrap_or_default().to_string();
        // The body may be chunked; the JSON object is what sits between the outer braces.
        let (Some(from), Some(to)) = (body.find('{'), body.rfind('}')) else {
            panic!("no JSON body in response to {method} {path}:\n{head}\n\n{body}");
        };
        (status, serde_json::from_str(&body[from..=to]).unwrap())
    }

    /// One HTTP/1.1 request; returns the response head (status line and headers) and body.
    fn raw_request(&self, method: &str, path: &str, body: Option<&Value>) -> (String, String) {
        let addr = self.addr();
        let mut conn = TcpStream::connect(&addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        write!(
            conn,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            payload.len()
        )
        .unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        (head.to_string(), body.to_string())
    }
}

impl SandboxProcess {
    /// Sends SIGTERM and waits (at most 15 s) for the exit status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                return exit;
            }
            assert!(
                Instant::now() < deadline,
                "sandbox did not stop within 15s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `ready <path>` line, a kubeconfig naming context `sandbox` that serves, exit 0 on SIGTERM.
#[test]
fn sandbox_announces_ready_serves_and_stops_on_sigterm() {
    let home = tempfile::tempdir().unwrap();
    let mut sandbox = SandboxProcess::start(home.path(), &[]);
    assert_eq!(
        sandbox.ready_line,
        format!("ready {}", sandbox.kubeconfig.display())
    );

    let doc = sandbox.kubeconfig_doc();
    assert_eq!(doc["kind"], "Config", "{doc:#}");
    assert_eq!(doc["current-context"], "sandbox", "{doc:#}");
    let contexts = doc["contexts"].as_array().unwrap();
    assert!(contexts.iter().any(|c| c["name"] == "sandbox"), "{doc:#}");
    let addr = sandbox.addr();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert_ne!(
        addr, "127.0.0.1:0",
        "--port 0 must resolve to the bound port"
    );

    // It serves: /version answers like kube-apiserver 1.33.
    let (status, version) = sandbox.get_json("/version");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(version["major"], "1", "{version:#}");
    assert_eq!(version["minor"], "33", "{version:#}");

    let exit = sandbox.terminate();
    let err: Vec<String> = sandbox.stderr.try_iter().collect();
    assert_eq!(
        exit.code(),
        Some(0),
        "SIGTERM must end the sandbox cleanly; stderr:\n{}",
        err.join("\n")
    );
    // Exactly one line on stdout, ever.
    let mut rest = Vec::new();
    loop {
        match sandbox.lines.recv_timeout(Duration::from_secs(5)) {
            Ok(line) => rest.push(line),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => panic!("stdout not closed after exit"),
        }
    }
    assert!(rest.is_empty(), "extra stdout lines: {rest:?}");
}

/// A harness may stop the sandbox the moment it is ready: that is a clean stop too.
#[test]
fn sandbox_stopped_right_after_ready_exits_0() {
    let home = tempfile::tempdir().unwrap();
    let mut sandbox = SandboxProcess::start(home.path(), &[]);
    assert!(sandbox.ready_line.starts_with("ready "));
    let exit = sandbox.terminate();
    assert_eq!(
        exit.code(),
        Some(0),
        "SIGTERM right after `ready` must end the sandbox cleanly (exit status {exit:?})"
    );
}

#[test]
fn sandbox_reports_the_requested_kube_version() {
    let home = tempfile::tempdir().unwrap();
    let sandbox = SandboxProcess::start(home.path(), &["--kube-version", "1.30"]);
    let (status, version) = sandbox.get_json("/version");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(version["minor"], "30", "{version:#}");
    assert!(
        version["gitVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("v1.30.")),
        "{version:#}"
    );
}

/// `--state FILE` keeps objects, their uids and the resourceVersion sequence across restarts.
#[test]
fn sandbox_state_survives_a_restart() {
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state.json");
    let state_arg = state.to_str().unwrap();
    let path = "/api/v1/namespaces/default/configmaps";
    let (uid, rv) = {
        let mut sandbox = SandboxProcess::start(home.path(), &["--state", state_arg]);
        let cm = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kept"},
            "data": {"k": "v"}
        });
        let (status, created) = sandbox.request("POST", path, Some(&cm));
        assert!(status.starts_with("HTTP/1.1 201"), "{status} {created:#}");
        assert_eq!(sandbox.terminate().code(), Some(0));
        (
            created["metadata"]["uid"].as_str().unwrap().to_string(),
            created["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap(),
        )
    };
    assert!(state.is_file(), "--state file not written");

    let sandbox = SandboxProcess::start(home.path(), &["--state", state_arg]);
    let (status, kept) = sandbox.get_json(&format!("{path}/kept"));
    assert!(status.starts_with("HTTP/1.1 200"), "{status} {kept:#}");
    assert_eq!(kept["metadata"]["uid"], uid.as_str());
    assert_eq!(kept["data"]["k"], "v");
    let other = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "later"}
    });
    let (status, later) = sandbox.request("POST", path, Some(&other));
    assert!(status.starts_with("HTTP/1.1 201"), "{status} {later:#}");
    let later_rv: u64 = later["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        later_rv > rv,
        "resourceVersions must keep growing across restarts: {later_rv} <= {rv}"
    );
}

/// Fault injection answers like a real overloaded or failing API server.
#[test]
fn sandbox_injects_faults() {
    let home = tempfile::tempdir().unwrap();
    let path = "/api/v1/namespaces/default/configmaps";

    let failing = SandboxProcess::start(home.path(), &["--fail-rate", "1"]);
    let (status, body) = failing.request("GET", path, None);
    assert!(status.starts_with("HTTP/1.1 500"), "{status}");
    assert_eq!(body["kind"], "Status", "{body:#}");
    assert_eq!(body["reason"], "InternalError", "{body:#}");
    assert_eq!(body["code"], 500, "{body:#}");
    drop(failing);

    let throttled = SandboxProcess::start(home.path(), &["--throttle-rate", "1"]);
    let (head, _) = throttled.raw_request("GET", path, None);
    assert!(head.starts_with("HTTP/1.1 429"), "{head}");
    assert!(
        head.lines()
            .any(|l| l.eq_ignore_ascii_case("retry-after: 1")),
        "429 must carry Retry-After: 1\n{head}"
    );
    let (_, body) = throttled.request("GET", path, None);
    assert_eq!(body["reason"], "TooManyRequests", "{body:#}");
    assert_eq!(body["details"]["retryAfterSeconds"], 1, "{body:#}");
    drop(throttled);

    let slow = SandboxProcess::start(home.path(), &["--latency", "300"]);
    let started = Instant::now();
    let (status, _) = slow.request("GET", path, None);
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}
