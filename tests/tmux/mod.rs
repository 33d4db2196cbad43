//! A real terminal for end-to-end tests of the UI: a tmux server of the test's own (`-L`, no
//! user config) with one session running a shell line; keys go in with `send-keys`, the screen
//! comes out with `capture-pane`. The server is killed on drop.

// Each integration test crate compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long the UI may take to show something: generous, for a loaded CI machine.
pub const SHOW: Duration = Duration::from_secs(30);

/// A tmux server of our own with one session, `ui`.
pub struct Tmux {
    socket: String,
    /// How long [`Tmux::wait_for`] waits.
    patience: Duration,
    /// Every screen captured so far, for checks over the whole run (secrets never shown).
    pub seen: std::cell::RefCell<Vec<String>>,
}

impl Tmux {
    /// Starts `line` (run by `sh -c`) in a `width`×`height` session.
    pub fn start(line: &str, width: u16, height: u16) -> Tmux {
        let tmux = Tmux {
            socket: format!("kgo-tui-{}", uuid::Uuid::new_v4().simple()),
            patience: SHOW,
            seen: Default::default(),
        };
        let status = tmux
            .command()
            .args(["new-session", "-d", "-x"])
            .arg(width.to_string())
            .arg("-y")
            .arg(height.to_string())
            .args(["-s", "ui", line])
            .status()
            .expect("tmux is needed for the terminal tests");
        assert!(status.success(), "tmux new-session failed");
        tmux
    }

    /// `tmux -L <socket> -f /dev/null`.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.socket, "-f", "/dev/null"]);
        cmd
    }

    /// Waits up to `patience` in [`Tmux::wait_for`] instead of [`SHOW`].
    pub fn patience(mut self, patience: Duration) -> Tmux {
        self.patience = patience;
        self
    }

    /// The screen as text, with (`-e`) or without its escape sequences.
    pub fn capture(&self, escapes: bool) -> String {
        let mut cmd = self.command();
        cmd.args(["capture-pane", "-p", "-t", "ui"]);
        if escapes {
            cmd.arg("-e");
        }
        let screen = String::from_utf8_lossy(&cmd.output().unwrap().stdout).into_owned();
        self.seen.borrow_mut().push(screen.clone());
        screen
    }

    /// The screen as text.
    pub fn screen(&self) -> String {
        self.capture(false)
    }

    /// Sends tmux key names (`j`, `Tab`, `Enter`, `Escape`).
    pub fn keys(&self, keys: &[&str]) {
        let status = self
            .command()
            .args(["send-keys", "-t", "ui"])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits until the screen satisfies `pred` on two captures in a row, and returns the
    /// second: a capture can land in the middle of a frame being written, half old and half
    /// new. Panics with the last screen after the patience ([`SHOW`] by default).
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + self.patience;
        let mut held = false;
        loop {
            let screen = self.screen();
            if pred(&screen) {
                if held {
                    return screen;
                }
                held = true;
                std::thread::sleep(Duration::from_millis(30));
                continue;
            }
            held = false;
            if Instant::now() > deadline {
                panic!(
                    "timed out after {:?} waiting for {what}; screen:\n{screen}",
                    self.patience
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The pid of the process the session's shell runs (the UI).
    pub fn child_pid(&self) -> String {
        let out = self
            .command()
            .args(["display-message", "-p", "-t", "ui", "#{pane_pid}"])
            .output()
            .unwrap();
        let pane = String::from_utf8(out.stdout).unwrap();
        let children =
            std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", pane.trim())).unwrap();
        children
            .split_whitespace()
            .next()
            .expect("the UI process")
            .to_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").status();
    }
}

fn quote(s: &std::ffi::OsStr) -> String {
    format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"))
}

/// The shell line that records the terminal settings (`stty -a`) in `dir/stty.before`, runs
/// `cmd` with exactly its own environment (`env -i`) and `TERM=xterm-256color` (stderr to
/// `stderr` when given, else the terminal), prints `EXIT=<code>`, and records the settings
/// again in `dir/stty.after`.
pub fn ui_line(cmd: &Command, dir: &Path, stderr: Option<&Path>) -> String {
    let mut env: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_string_lossy(), quote(v?))))
        .collect();
    env.push("TERM=xterm-256color".into());
    let program: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote)
        .collect();
    let redirect = stderr.map_or(String::new(), |f| format!(" 2> {}", quote(f.as_os_str())));
    format!(
        "stty -a > {before}; env -i {} {}{redirect}; echo EXIT=$?; stty -a > {after}; sleep 600",
        env.join(" "),
        program.join(" "),
        before = quote(dir.join("stty.before").as_os_str()),
        after = quote(dir.join("stty.after").as_os_str()),
    )
}

/// After the UI exited: the terminal settings recorded before and after it, once both exist.
pub fn stty_before_and_after(dir: &Path) -> (String, String) {
    let deadline = Instant::now() + SHOW;
    loop {
        let after = std::fs::read_to_string(dir.join("stty.after")).unwrap_or_default();
        if !after.is_empty() {
            let before = std::fs::read_to_string(dir.join("stty.before")).unwrap();
            return (before, after);
        }
        assert!(
            Instant::now() < deadline,
            "no stty.after in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
