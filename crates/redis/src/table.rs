//! The command registry: every module's `COMMANDS` table, indexed by name.

use crate::cmd;
use crate::spec::CommandSpec;
use std::collections::HashMap;
use std::sync::OnceLock;

/// All top-level commands.
pub struct Table {
    pub commands: Vec<&'static CommandSpec>,
    by_name: HashMap<&'static str, usize>,
}

impl Table {
    fn build() -> Table {
        let mut commands: Vec<&'static CommandSpec> = Vec::new();
        for group in cmd::ALL {
            commands.extend(group.iter());
        }
        let by_name = commands
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name, i))
            .collect();
        Table { commands, by_name }
    }

    /// Look a command up by name, case-insensitively, without allocating.
    pub fn get(&self, name: &[u8]) -> Option<(usize, &'static CommandSpec)> {
        let mut buf = [0u8; 32];
        if name.len() > buf.len() {
            return None;
        }
        for (d, s) in buf.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        let lower = std::str::from_utf8(&buf[..name.len()]).ok()?;
        let &i = self.by_name.get(lower)?;
        Some((i, self.commands[i]))
    }

    pub fn len(&self) -> usize {
        self.commands.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }
}

/// Find a subcommand of `parent` by name, case-insensitively.
pub fn subcommand(parent: &'static CommandSpec, name: &[u8]) -> Option<&'static CommandSpec> {
    parent
        .subcommands
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// The process-wide command table.
pub fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(Table::build)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_unique_and_lowercase() {
        let t = table();
        let mut seen = std::collections::HashSet::new();
        for c in &t.commands {
            assert_eq!(c.name, c.name.to_ascii_lowercase());
            assert!(seen.insert(c.name), "duplicate command {}", c.name);
        }
        assert!(t.get(b"GeT").is_some());
    }
}
