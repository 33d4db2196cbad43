//! A spinner on stderr while a command waits on git or the cluster: only on a terminal, and
//! only after a moment, so quick runs and pipes never see it.

use std::io::{IsTerminal, Write};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a command runs before the spinner appears.
pub const DELAY: Duration = Duration::from_millis(300);
const FRAME: Duration = Duration::from_millis(100);
const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// A running spinner; dropping it stops it and clears its line.
pub struct Progress {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts a spinner with `message` on stderr when stderr is a terminal; otherwise does
    /// nothing.
    pub fn start(message: impl Into<String>) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress {
                stop: None,
                thread: None,
            };
        }
        let message = message.into();
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                if !matches!(stopped.recv_timeout(DELAY), Err(RecvTimeoutError::Timeout)) {
                    return;
                }
                let mut frame = 0;
                loop {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r\x1b[2K{} {message}", FRAMES[frame % FRAMES.len()]);
                    let _ = err.flush();
                    drop(err);
                    frame += 1;
                    if !matches!(stopped.recv_timeout(FRAME), Err(RecvTimeoutError::Timeout)) {
                        break;
                    }
                }
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K");
                let _ = err.flush();
            })
            .ok();
        Progress {
            stop: Some(stop),
            thread,
        }
    }

    /// Whether a spinner thread runs (stderr is a terminal).
    pub fn is_active(&self) -> bool {
        self.thread.is_some()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_without_terminal() {
        // cargo test captures stderr through a pipe, as scripts do.
        if std::io::stderr().is_terminal() {
            return;
        }
        let progress = Progress::start("evaluating");
        assert!(!progress.is_active());
    }
}
