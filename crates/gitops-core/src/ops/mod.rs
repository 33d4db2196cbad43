//! Use cases that both the CLI and the UI call: status/diff evaluation now; history, blame, sync
//! and revert later. They combine `render` (git), `cluster` (live) and `drift` (comparison).

pub mod blame;
pub mod blame_values;
pub mod helm_release;
pub mod history;
pub mod rev_diff;
pub mod revert;
pub mod status;
pub mod sync;
