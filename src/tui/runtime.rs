//! The event loop: terminal events, effect results and live changes come in as messages on
//! one channel; the reducer turns them into state and effects; effects run on a tokio runtime
//! (git work on blocking threads) and answer with actions. The UI thread never waits on I/O.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, MouseEventKind};
use tokio::task::JoinHandle;

use crate::drift::Strategy;
use crate::model::ResourceId;
use crate::ops::status::{StatusOptions, evaluate_resource, evaluate_with};
use crate::ops::sync::SyncPlan;
use gitops_core::live::{ClusterClient, LiveChange, LiveWatch, watch_kinds};

use super::action::{Action, Effect, RequestId};
use super::keymap;
use super::state::{Location, State};
use super::theme::{self, Theme};
use super::{UiError, UiOptions, ops_calls, update};

/// How long live changes are gathered before one re-evaluation: well inside the 2 s promise.
const LIVE_COALESCE: Duration = Duration::from_millis(250);

/// How long the selection must stay on a resource before its diff's texts are evaluated.
const TEXTS_SETTLE: Duration = Duration::from_millis(120);

/// Everything the UI thread reacts to.
pub(super) enum Msg {
    Terminal(Event),
    Action(Action),
    /// SIGINT / SIGTERM / SIGHUP: leave, restoring the terminal.
    Signal(i32),
}

/// Runs the UI until the user quits; returns the exit code (0, or 128 + signal).
pub fn run(opts: UiOptions) -> Result<i32, UiError> {
    let started = Instant::now();
    let theme = Theme::load(
        &theme::requested_name(opts.theme.as_deref()),
        theme::user_theme_dir().as_deref(),
        theme::no_color_env(),
    )?;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(UiError::NotATerminal);
    }
    let (handle, stop_runtime, driver) = start_effects_runtime()?;
    let frame_log = FrameLog::from_env();

    let location = Location {
        repo: repo_name(&opts.target.repo),
        path: opts.target.env_path(),
        rev: opts.target.rev.clone(),
        context: opts.target.context.clone().unwrap_or_default(),
        namespace: opts.target.namespace.clone(),
    };
    let mut state = State::new(location, opts.read_only, theme);

    let (tx, rx) = std::sync::mpsc::channel::<Msg>();
    let mut terminal = ratatui::try_init().map_err(UiError::Setup)?;
    let _ = crossterm::execute!(std::io::stdout(), event::EnableMouseCapture);
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(std::io::stdout(), event::DisableMouseCapture);
        previous_hook(info);
    }));

    let stop_input = Arc::new(AtomicBool::new(false));
    let input = spawn_input(tx.clone(), Arc::clone(&stop_input));
    handle.spawn(forward_signals(tx.clone()));

    let mut runner = Runner::new(handle.clone(), tx.clone(), &opts);
    let result = event_loop(
        &mut terminal,
        &mut state,
        &mut runner,
        &rx,
        &frame_log,
        started,
    );

    stop_input.store(true, Ordering::Relaxed);
    let _ = crossterm::execute!(std::io::stdout(), event::DisableMouseCapture);
    ratatui::restore();
    // The input thread stops within its 50 ms poll, except when the terminal is gone (a
    // hangup): crossterm's poll then spins on the dead tty without returning, so it is left
    // behind rather than joined — the process ends with this function's caller.
    let waited = Instant::now();
    while !input.is_finished() && waited.elapsed() < INPUT_STOP {
        std::thread::sleep(Duration::from_millis(5));
    }
    if input.is_finished() {
        let _ = input.join();
    }
    // Not joined: an evaluation rendering on that thread must not hold up the exit.
    let _ = stop_runtime.send(());
    drop(driver);
    result
}

/// Draws, then handles what arrives (keys, effects' results, signals) until the user quits or
/// a signal ends the UI; everything already waiting is handled before the next draw.
fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    state: &mut State,
    runner: &mut Runner,
    rx: &std::sync::mpsc::Receiver<Msg>,
    frame_log: &FrameLog,
    started: Instant,
) -> Result<i32, UiError> {
    terminal
        .draw(|frame| frame.render_widget(&*state, frame.area()))
        .map_err(UiError::Setup)?;
    frame_log.first_frame(started.elapsed());
    let effects = update::start(state);
    runner.run(effects);
    let mut exit = 0;
    loop {
        let first = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(msg) => msg,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let received = Instant::now();
        let mut keyed = false;
        let mut next = Some(first);
        // Everything already waiting is handled before one draw.
        while let Some(msg) = next {
            match msg {
                Msg::Signal(signal) => {
                    state.quit = true;
                    exit = 128 + signal;
                }
                Msg::Terminal(event) => {
                    keyed |= matches!(event, Event::Key(_));
                    if let Some(action) = terminal_action(state, event) {
                        let effects = update::update(state, action);
                        runner.run(effects);
                    }
                }
                Msg::Action(action) => {
                    frame_log.milestone(&action, started.elapsed());
                    let effects = update::update(state, action);
                    runner.run(effects);
                }
            }
            next = rx.try_recv().ok();
        }
        if state.quit {
            break;
        }
        terminal
            .draw(|frame| frame.render_widget(&*state, frame.area()))
            .map_err(UiError::Setup)?;
        frame_log.frame(keyed, received.elapsed());
    }
    Ok(exit)
}

/// The runtime effects run on, driven by a thread of its own until the returned sender fires.
fn start_effects_runtime() -> Result<
    (
        tokio::runtime::Handle,
        tokio::sync::oneshot::Sender<()>,
        std::thread::JoinHandle<()>,
    ),
    UiError,
> {
    // Effects run on one thread (plus the blocking pool for git work): each evaluation then
    // allocates where the one before it freed. On two worker threads, glibc's per-thread
    // arenas kept every evaluation's peak resident side by side: 30 to 60 MB more at 5,000
    // resources. An evaluation is one future anyway; parallel workers bought nothing.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(UiError::Setup)?;
    let handle = runtime.handle().clone();
    let (stop_runtime, stopped) = tokio::sync::oneshot::channel::<()>();
    let driver = std::thread::Builder::new()
        .name("kubectl-gitops-io".into())
        .spawn(move || {
            runtime.block_on(async {
                let _ = stopped.await;
            });
            runtime.shutdown_background();
        })
        .map_err(UiError::Setup)?;
    Ok((handle, stop_runtime, driver))
}

fn repo_name(repo: &std::path::Path) -> String {
    let absolute = std::path::absolute(repo).unwrap_or_else(|_| repo.to_path_buf());
    absolute
        .components()
        .next_back()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_else(|| ".".into())
}

fn terminal_action(state: &State, event: Event) -> Option<Action> {
    match event {
        Event::Key(key) => keymap::action_for(state, key),
        Event::Mouse(mouse) => match mouse.kind {
            MouseEventKind::ScrollDown => Some(Action::Down),
            MouseEventKind::ScrollUp => Some(Action::Up),
            _ => None,
        },
        // A resize needs no action: the loop draws after every message.
        _ => None,
    }
}

/// How long leaving waits for the input thread (it polls every 50 ms).
const INPUT_STOP: Duration = Duration::from_millis(250);

/// Reads terminal events on a thread of its own (crossterm's reads block).
fn spawn_input(tx: Sender<Msg>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(50)) {
                Ok(true) => match event::read() {
                    Ok(event) => {
                        if tx.send(Msg::Terminal(event)).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                },
                Ok(false) => {}
                Err(_) => break,
            }
        }
    })
}

async fn forward_signals(tx: Sender<Msg>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut interrupt), Ok(mut terminate), Ok(mut hangup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        let mut first = true;
        loop {
            let number = tokio::select! {
                _ = interrupt.recv() => 2,
                _ = terminate.recv() => 15,
                _ = hangup.recv() => 1,
            };
            if first {
                // The UI thread leaves, restoring the terminal.
                let _ = tx.send(Msg::Signal(number));
                first = false;
            } else {
                // A second signal while leaving: the way out must not depend on the UI
                // thread (a signal caught and then ignored would make the process unkillable
                // by anything but SIGKILL).
                std::process::exit(128 + number);
            }
        }
    }
    #[cfg(not(unix))]
    if tokio::signal::ctrl_c().await.is_ok() {
        let _ = tx.send(Msg::Signal(2));
    }
}

/// `KUBECTL_GITOPS_FRAME_LOG=FILE`: one line per frame, for the benchmark: `first-frame MS`
/// (since start), `key-frame MS` / `frame MS` (from the message that caused it to the frame
/// on the terminal), and milestones (`history-done MS`, `evaluated-client MS`,
/// `evaluated-rows MS` (a live change's rows), `compared MS` (the mark's comparison), ...
/// since start).
struct FrameLog {
    file: Option<Mutex<std::fs::File>>,
}

impl FrameLog {
    fn from_env() -> FrameLog {
        let file = std::env::var_os("KUBECTL_GITOPS_FRAME_LOG")
            .filter(|p| !p.is_empty())
            .and_then(|p| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .ok()
            })
            .map(Mutex::new);
        FrameLog { file }
    }

    fn write(&self, line: String) {
        if let Some(file) = &self.file
            && let Ok(mut file) = file.lock()
        {
            let _ = writeln!(file, "{line}");
        }
    }

    fn first_frame(&self, elapsed: Duration) {
        self.write(format!("first-frame {:.3}", elapsed.as_secs_f64() * 1000.0));
    }

    /// A frame: `key-frame` when a key caused it (keystroke → frame), else `frame`.
    fn frame(&self, keyed: bool, elapsed: Duration) {
        let kind = if keyed { "key-frame" } else { "frame" };
        self.write(format!("{kind} {:.3}", elapsed.as_secs_f64() * 1000.0));
    }

    /// When history and evaluations arrive, in ms since start.
    fn milestone(&self, action: &Action, since_start: Duration) {
        if self.file.is_none() {
            return;
        }
        let name = match action {
            Action::HistoryLoaded { done: true, .. } => "history-done",
            Action::HistoryLoaded { .. } => "history-chunk",
            Action::Evaluated {
                strategy: Strategy::Client,
                ..
            } => "evaluated-client",
            Action::Evaluated {
                strategy: Strategy::Server,
                ..
            } => "evaluated-server",
            Action::RowsEvaluated { .. } => "evaluated-rows",
            Action::Compared { .. } => "compared",
            _ => return,
        };
        self.write(format!("{name} {:.3}", since_start.as_secs_f64() * 1000.0));
    }
}

/// Runs effects: owns the cluster connection, the running evaluation and the watches.
struct Runner {
    handle: tokio::runtime::Handle,
    tx: Sender<Msg>,
    options: Arc<Mutex<StatusOptions>>,
    cluster: Arc<tokio::sync::Mutex<Option<ClusterClient>>>,
    evaluation: Option<JoinHandle<()>>,
    /// The running on-demand texts request: a newer one aborts it.
    texts: Option<JoinHandle<()>>,
    /// The comparison with the mark waiting to start: a newer one aborts it.
    comparison: Option<JoinHandle<()>>,
    history: Arc<AtomicU64>,
    watch: Arc<Mutex<Option<LiveWatch>>>,
    changes: tokio::sync::mpsc::UnboundedSender<LiveChange>,
    /// The last sync plan and the request that made it: what a confirmation applies.
    plans: Arc<Mutex<Option<KeptPlan>>>,
}

/// A sync plan and the request that made it.
type KeptPlan = (RequestId, Arc<SyncPlan>);

impl Runner {
    fn new(handle: tokio::runtime::Handle, tx: Sender<Msg>, opts: &UiOptions) -> Runner {
        let options = StatusOptions {
            target: opts.target.clone(),
            // The UI does not show lastCommit nor matchesRevision: skip their walks.
            last_commit_limit: 0,
            matches_revision: false,
            // Only the Detail pane shows texts, for one resource: it asks for them
            // (`Effect::LoadTexts`). At 5,000 resources two YAML texts per row were most of
            // the UI's peak memory.
            texts: false,
            ..StatusOptions::default()
        };
        let (changes, received) = tokio::sync::mpsc::unbounded_channel();
        handle.spawn(coalesce_changes(received, tx.clone()));
        Runner {
            handle,
            tx,
            options: Arc::new(Mutex::new(options)),
            cluster: Arc::new(tokio::sync::Mutex::new(None)),
            evaluation: None,
            texts: None,
            comparison: None,
            history: Arc::new(AtomicU64::new(0)),
            watch: Arc::new(Mutex::new(None)),
            changes,
            plans: Arc::new(Mutex::new(None)),
        }
    }

    fn send(tx: &Sender<Msg>, action: Action) {
        let _ = tx.send(Msg::Action(action));
    }

    fn options(&self) -> StatusOptions {
        self.options
            .lock()
            .map(|o| o.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// The options of an evaluation of `rev` with `strategy`.
    fn options_at(&self, rev: String, strategy: Strategy) -> StatusOptions {
        let mut options = self.options();
        options.target.rev = rev;
        options.strategy = strategy;
        options
    }

    fn run(&mut self, effects: Vec<Effect>) {
        let mut effects = effects.into_iter().peekable();
        while let Some(effect) = effects.next() {
            match effect {
                Effect::Evaluate {
                    request,
                    rev,
                    strategy,
                } => {
                    // The server refinement queued with a client look runs right after it, in
                    // the same task: one evaluation's memory at a time, and a newer request
                    // aborts both.
                    let refine = matches!(
                        effects.peek(),
                        Some(Effect::Evaluate { request: r, strategy: Strategy::Server, .. })
                            if *r == request
                    );
                    if refine {
                        effects.next();
                    }
                    self.evaluate(request, rev, strategy, refine);
                }
                Effect::LoadHistory { request, rev } => self.load_history(request, rev),
                Effect::EvaluateRows {
                    request,
                    rev,
                    strategy,
                    rows,
                } => self.evaluate_rows(request, rev, strategy, rows),
                Effect::Watch { kinds } => self.start_watch(kinds),
                Effect::SetContext(context) => {
                    if let Ok(mut o) = self.options.lock() {
                        o.target.context = Some(context);
                    }
                    self.reset_cluster();
                }
                Effect::SetNamespace(namespace) => {
                    if let Ok(mut o) = self.options.lock() {
                        o.target.namespace = Some(namespace);
                    }
                }
                Effect::Highlight {
                    id,
                    live,
                    desired,
                    syntax,
                } => self.highlight(id, live, desired, syntax),
                Effect::LoadTexts {
                    request,
                    rev,
                    strategy,
                    id,
                    api_version,
                    source,
                } => self.load_texts(request, rev, strategy, id, api_version, source),
                Effect::LoadTheme(name) => self.load_theme(name),
                Effect::PlanSync {
                    request,
                    rev,
                    resources,
                } => self.plan_sync(request, rev, resources),
                Effect::Sync {
                    plan,
                    rev,
                    resources,
                } => self.sync(plan, rev, resources),
                Effect::PlanRevert { request, commit } => self.plan_revert(request, commit),
                Effect::Revert { commit, then_sync } => self.revert(commit, then_sync),
                Effect::Blame {
                    request,
                    rev,
                    id,
                    live,
                } => self.blame(request, rev, id, live),
                Effect::ResourceHistory { request, rev, id } => {
                    self.resource_history(request, rev, id)
                }
                Effect::CompareRevisions { request, from, rev } => {
                    self.compare_revisions(request, from, rev)
                }
            }
        }
    }

    fn highlight(&mut self, id: ResourceId, live: String, desired: String, syntax: String) {
        let tx = self.tx.clone();
        self.handle.spawn_blocking(move || {
            let colours = (
                crate::highlight::highlight_yaml(&live, &syntax),
                crate::highlight::highlight_yaml(&desired, &syntax),
            );
            Runner::send(
                &tx,
                Action::Highlighted {
                    id,
                    live,
                    desired,
                    syntax,
                    colours,
                },
            );
        });
    }

    fn load_theme(&mut self, name: String) {
        let tx = self.tx.clone();
        self.handle.spawn_blocking(move || {
            let result = Theme::load(
                &name,
                theme::user_theme_dir().as_deref(),
                theme::no_color_env(),
            )
            .map(Box::new)
            .map_err(|e| e.to_string());
            Runner::send(&tx, Action::ThemeLoaded(result));
        });
    }

    fn plan_revert(&mut self, request: RequestId, commit: String) {
        let tx = self.tx.clone();
        let options = self.options();
        self.handle.spawn_blocking(move || {
            let result = ops_calls::revert_lines(&options, &commit).map_err(|e| e.to_string());
            Runner::send(&tx, Action::Planned { request, result });
        });
    }

    fn blame(&mut self, request: RequestId, rev: String, id: ResourceId, live: bool) {
        let tx = self.tx.clone();
        let options = self.options();
        self.handle.spawn(async move {
            let result = ops_calls::blame_lines(&options, &rev, &id, live)
                .await
                .map_err(|e| e.to_string());
            Runner::send(&tx, Action::DetailLoaded { request, result });
        });
    }

    fn resource_history(&mut self, request: RequestId, rev: String, id: ResourceId) {
        let tx = self.tx.clone();
        let options = self.options();
        self.handle.spawn(async move {
            let result = ops_calls::resource_history_lines(&options, &rev, &id)
                .await
                .map_err(|e| e.to_string());
            Runner::send(&tx, Action::DetailLoaded { request, result });
        });
    }

    fn plan_sync(&mut self, request: RequestId, rev: String, only: Option<Vec<ResourceId>>) {
        let tx = self.tx.clone();
        let cluster = Arc::clone(&self.cluster);
        let options = self.options();
        let plans = Arc::clone(&self.plans);
        self.handle.spawn(async move {
            let result = match connected(&cluster, &options).await {
                Ok(client) => {
                    let opts = ops_calls::sync_options(&options, &rev, only);
                    ops_calls::plan_sync(&client, &opts).await
                }
                Err(error) => Err(error),
            };
            let result = result.map_err(|e| e.to_string()).map(|(plan, lines)| {
                if let Ok(mut slot) = plans.lock() {
                    *slot = Some((request, Arc::new(plan)));
                }
                lines
            });
            Runner::send(&tx, Action::Planned { request, result });
        });
    }

    /// Applies the plan the user confirmed (planned again if it is not the one kept).
    fn sync(&mut self, request: RequestId, rev: String, only: Option<Vec<ResourceId>>) {
        let tx = self.tx.clone();
        let cluster = Arc::clone(&self.cluster);
        let options = self.options();
        let kept = self
            .plans
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .filter(|(r, _)| *r == request)
            .map(|(_, plan)| plan);
        let handle = self.handle.clone();
        self.handle.spawn(async move {
            let result = async {
                let client = connected(&cluster, &options).await?;
                let plan = match kept {
                    Some(plan) => plan,
                    None => {
                        let opts = ops_calls::sync_options(&options, &rev, only);
                        Arc::new(ops_calls::plan_sync(&client, &opts).await?.0)
                    }
                };
                ops_calls::run_sync(handle, client, plan).await
            }
            .await;
            Runner::send(
                &tx,
                Action::WriteDone {
                    what: "sync".into(),
                    result: result.map_err(|e| e.to_string()),
                    new_head: None,
                },
            );
        });
    }

    /// Reverts in git (blocking), then syncs the new HEAD when asked.
    fn revert(&mut self, commit: String, then_sync: bool) {
        let tx = self.tx.clone();
        let cluster = Arc::clone(&self.cluster);
        let options = self.options();
        let handle = self.handle.clone();
        self.handle.spawn(async move {
            let repo = options.target.repo.clone();
            let reverted =
                tokio::task::spawn_blocking(move || ops_calls::run_revert(&repo, &commit))
                    .await
                    .unwrap_or_else(|source| {
                        Err(ops_calls::CallError::Stopped {
                            what: "revert",
                            source,
                        })
                    });
            let (mut result, new_head) = match reverted {
                Ok((line, new_head)) => (Ok(line), new_head),
                Err(error) => (Err(error.to_string()), None),
            };
            if then_sync && let (Ok(line), Some(head)) = (&result, &new_head) {
                let synced = async {
                    let client = connected(&cluster, &options).await?;
                    let opts = ops_calls::sync_options(&options, head, None);
                    let (plan, _) = ops_calls::plan_sync(&client, &opts).await?;
                    ops_calls::run_sync(handle, client, Arc::new(plan)).await
                }
                .await;
                result = match synced {
                    Ok(synced) => Ok(format!("{line} Synced: {synced}")),
                    Err(message) => Err(format!("{line}\nThe sync afterwards failed: {message}")),
                };
            }
            Runner::send(
                &tx,
                Action::WriteDone {
                    what: "revert".into(),
                    result,
                    new_head,
                },
            );
        });
    }

    fn reset_cluster(&mut self) {
        let cluster = Arc::clone(&self.cluster);
        self.handle.spawn(async move {
            *cluster.lock().await = None;
        });
        if let Ok(mut watch) = self.watch.lock() {
            *watch = None;
        }
    }

    fn evaluate(&mut self, request: RequestId, rev: String, strategy: Strategy, refine: bool) {
        abort_previous(&mut self.evaluation);
        let tx = self.tx.clone();
        let cluster = Arc::clone(&self.cluster);
        let mut options = self.options_at(rev, strategy);
        self.evaluation = Some(self.handle.spawn(async move {
            let client = match connected(&cluster, &options).await {
                Ok(client) => client,
                Err(error) => {
                    Runner::send(
                        &tx,
                        Action::Evaluated {
                            request,
                            strategy,
                            result: Err(error.to_string()),
                        },
                    );
                    return;
                }
            };
            let mut strategies = vec![strategy];
            if refine {
                strategies.push(Strategy::Server);
            }
            for strategy in strategies {
                options.strategy = strategy;
                let result = evaluate_with(&client, &options)
                    .await
                    .map(Arc::new)
                    .map_err(|e| e.to_string());
                let failed = result.is_err();
                Runner::send(
                    &tx,
                    Action::Evaluated {
                        request,
                        strategy,
                        result,
                    },
                );
                if failed {
                    // The server would fail the same way.
                    break;
                }
            }
        }));
    }

    /// Evaluates a few rows again (one resource at a time, as the Detail texts are), for a
    /// live change; supersedes the running evaluation like a whole one.
    fn evaluate_rows(
        &mut self,
        request: RequestId,
        rev: String,
        strategy: Strategy,
        rows: Vec<(ResourceId, String, Option<crate::model::Source>)>,
    ) {
        abort_previous(&mut self.evaluation);
        let tx = self.tx.clone();
        let cluster = Arc::clone(&self.cluster);
        let options = self.options_at(rev, strategy);
        self.evaluation = Some(self.handle.spawn(async move {
            let result = async {
                let client = connected(&cluster, &options)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut evaluated = Vec::with_capacity(rows.len());
                for (id, api_version, source) in &rows {
                    let mut row =
                        evaluate_resource(&client, &options, id, api_version, source.as_ref())
                            .await
                            .map_err(|e| e.to_string())?;
                    // Rows carry no texts in the UI: the Detail pane asks for its own.
                    row.live_yaml = None;
                    row.desired_yaml = None;
                    evaluated.push(row);
                }
                Ok(evaluated)
            }
            .await;
            Runner::send(&tx, Action::RowsEvaluated { request, result });
        }));
    }

    /// Evaluates the selected resource alone for its diff's texts, once the selection has
    /// stayed put for [`TEXTS_SETTLE`]: keys held down ask only where they stop, and a newer
    /// request aborts this one (its answer would be dropped anyway).
    fn load_texts(
        &mut self,
        request: RequestId,
        rev: String,
        strategy: Strategy,
        id: ResourceId,
        api_version: String,
        source: Option<crate::model::Source>,
    ) {
        abort_previous(&mut self.texts);
        let tx = self.tx.clone();
        let cluster = Arc::clone(&self.cluster);
        let options = self.options_at(rev, strategy);
        self.texts = Some(self.handle.spawn(async move {
            tokio::time::sleep(TEXTS_SETTLE).await;
            let result = match connected(&cluster, &options).await {
                Ok(client) => {
                    evaluate_resource(&client, &options, &id, &api_version, source.as_ref())
                        .await
                        .map(|row| {
                            (
                                row.live_yaml.unwrap_or_default(),
                                row.desired_yaml.unwrap_or_default(),
                            )
                        })
                        .map_err(|e| e.to_string())
                }
                Err(error) => Err(error.to_string()),
            };
            Runner::send(
                &tx,
                Action::TextsLoaded {
                    request,
                    id,
                    result,
                },
            );
        }));
    }

    /// Compares the marked commit `from` with `rev` (both rendered, no cluster), once the
    /// selection has stayed put for [`TEXTS_SETTLE`]: walking the history with a mark renders
    /// only where the walk stops. The render runs on a blocking thread (its two commits on two
    /// threads), not on the runtime's one worker, so evaluations go on meanwhile.
    fn compare_revisions(&mut self, request: RequestId, from: String, rev: String) {
        abort_previous(&mut self.comparison);
        let tx = self.tx.clone();
        let options = self.options();
        let handle = self.handle.clone();
        self.comparison = Some(self.handle.spawn(async move {
            tokio::time::sleep(TEXTS_SETTLE).await;
            let result = tokio::task::spawn_blocking(move || {
                handle.block_on(ops_calls::compare_revisions(&options, &from, &rev))
            })
            .await
            .unwrap_or_else(|source| {
                Err(ops_calls::CallError::Stopped {
                    what: "the comparison with the mark",
                    source,
                })
            })
            .map(Arc::new)
            .map_err(|e| e.to_string());
            Runner::send(&tx, Action::Compared { request, result });
        }));
    }

    fn start_watch(&mut self, kinds: Vec<(String, String, Option<String>)>) {
        let cluster = Arc::clone(&self.cluster);
        let options = self.options();
        let slot = Arc::clone(&self.watch);
        let changes = self.changes.clone();
        let tx = self.tx.clone();
        self.handle.spawn(async move {
            let client = match connected(&cluster, &options).await {
                Ok(client) => client,
                Err(_) => return, // the evaluation shows the connection error
            };
            match watch_kinds(&client, &kinds, changes).await {
                Ok(watch) => {
                    if let Ok(mut slot) = slot.lock() {
                        *slot = Some(watch);
                    }
                }
                Err(error) => Runner::send(
                    &tx,
                    Action::Error(format!("live updates off: cannot watch: {error}")),
                ),
            }
        });
    }

    fn load_history(&mut self, request: RequestId, rev: String) {
        self.history.store(request, Ordering::Relaxed);
        let current = Arc::clone(&self.history);
        let tx = self.tx.clone();
        let options = self.options();
        self.handle.spawn_blocking(move || {
            let still_current = || current.load(Ordering::Relaxed) == request;
            let send = ops_calls::sender(tx.clone());
            if let Err(error) =
                ops_calls::walk_history(&options.target.at(rev), request, &send, &still_current)
            {
                let message = error.to_string();
                Runner::send(&tx, Action::HistoryFailed { request, message });
            }
        });
    }
}

/// The shared client, connecting on first use.
async fn connected(
    cluster: &tokio::sync::Mutex<Option<ClusterClient>>,
    options: &StatusOptions,
) -> Result<ClusterClient, ops_calls::CallError> {
    let mut slot = cluster.lock().await;
    if let Some(client) = slot.as_ref() {
        return Ok(client.clone());
    }
    let client = ClusterClient::connect(
        options.target.kubeconfig.as_deref(),
        options.target.context.as_deref(),
    )
    .await?;
    *slot = Some(client.clone());
    Ok(client)
}

/// Aborts the task in `slot`, if any: a newer request supersedes it.
fn abort_previous(slot: &mut Option<JoinHandle<()>>) {
    if let Some(previous) = slot.take() {
        previous.abort();
    }
}

/// Gathers live changes for [`LIVE_COALESCE`] and sends them as one action.
async fn coalesce_changes(
    mut received: tokio::sync::mpsc::UnboundedReceiver<LiveChange>,
    tx: Sender<Msg>,
) {
    while let Some(first) = received.recv().await {
        tokio::time::sleep(LIVE_COALESCE).await;
        let mut changed = Vec::new();
        let mut resync = false;
        let mut next = Some(first);
        while let Some(change) = next {
            match change {
                LiveChange::Object(id) => changed.push(id),
                LiveChange::Resync => resync = true,
            }
            next = received.try_recv().ok();
        }
        if resync {
            changed.clear();
        }
        if tx
            .send(Msg::Action(Action::LiveChanged { changed }))
            .is_err()
        {
            break;
        }
    }
}
