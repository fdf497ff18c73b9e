//! set commands (being written).

use crate::spec::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
