//! Server commands (INFO, CONFIG, COMMAND, CLIENT… being written) and the
//! per-command hooks dispatch calls: error statistics, slowlog, MONITOR.

use crate::client::ClientState;
use crate::server::Server;
use crate::spec::CommandSpec;
use std::time::Duration;

pub static COMMANDS: &[CommandSpec] = &[];

/// Count an error reply by its code (INFO errorstats).
pub fn count_error(_server: &Server, _msg: &str) {}

/// Called after every executed command: slowlog, latency, MONITOR feed.
pub fn after_command(
    _server: &Server,
    _client: &ClientState,
    _top: &'static CommandSpec,
    _spec: &'static CommandSpec,
    _argv: &[&[u8]],
    _elapsed: Duration,
) {
}
