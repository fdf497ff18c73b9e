//! Command implementations, one module per group. Each module exports a
//! `COMMANDS` table; a command's handler sits in the same file as its entry.

use crate::spec::CommandSpec;

pub mod bitmap;
pub mod client;
pub mod command;
pub mod command_meta;
pub mod config;
pub mod connection;
pub mod function;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod info;
pub mod keys;
pub mod list;
pub mod persist;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod set;
pub mod stream;
pub mod string;
pub mod transaction;
pub mod zset;

/// Every module's table, in COMMAND LIST order.
pub const ALL: &[&[CommandSpec]] = &[
    connection::COMMANDS,
    server::COMMANDS,
    client::COMMANDS,
    command::COMMANDS,
    config::COMMANDS,
    info::COMMANDS,
    keys::COMMANDS,
    string::COMMANDS,
    hash::COMMANDS,
    list::COMMANDS,
    set::COMMANDS,
    zset::COMMANDS,
    bitmap::COMMANDS,
    hll::COMMANDS,
    geo::COMMANDS,
    stream::COMMANDS,
    transaction::COMMANDS,
    pubsub::COMMANDS,
    persist::COMMANDS,
    scripting::COMMANDS,
    function::COMMANDS,
];
