//! The context a command handler runs in.

use crate::client::ClientState;
use crate::server::Server;
use ferrocache_engine::{Db, Locked};
use ferrocache_protocol::ReplyWriter;

/// Everything a handler may use. The shards the command's keys map to are
/// locked for the handler's whole run, which is what makes it atomic.
///
/// Two lifetimes: `'a` for this command's borrows of the client and its
/// reply buffer, `'k` for the server and the shard locks. EXEC moves one set
/// of locks through several commands' contexts, which needs the locks to
/// outlive each context.
pub struct Ctx<'a, 'k> {
    pub server: &'k Server,
    pub client: &'a mut ClientState,
    pub out: &'a mut ReplyWriter,
    pub ks: Locked<'k>,
}

impl<'a, 'k> Ctx<'a, 'k> {
    /// The client's selected database, in the shard owning `key`.
    pub fn db(&mut self, key: &[u8]) -> &mut Db {
        let db = self.client.db;
        self.ks.db(db, key)
    }

    /// The database holding `key` and the reply writer at once, for handlers
    /// that reply with data borrowed from the store (no copy).
    pub fn db_out(&mut self, key: &[u8]) -> (&mut Db, &mut ReplyWriter) {
        let db = self.client.db;
        (self.ks.db(db, key), &mut *self.out)
    }

    /// The command's clock (Unix ms), fixed for its whole run.
    pub fn now(&self) -> u64 {
        self.ks.now()
    }
}
