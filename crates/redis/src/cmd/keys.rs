//! Generic key commands.

use crate::ctx::Ctx;
use crate::error::CmdResult;
use crate::spec::{acl, flags::*, CommandSpec};

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new("del", -2, WRITE, (1, -1, 1), del)
    .acl(acl::KEYSPACE)
    .doc(
        "generic",
        "1.0.0",
        "Deletes one or more keys.",
        "O(N) where N is the number of keys that will be removed.",
    )];

fn del(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let mut n = 0;
    for k in &argv[1..] {
        let db = ctx.db(k);
        db.expire_if_needed(k);
        if db.remove(k).is_some() {
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}
