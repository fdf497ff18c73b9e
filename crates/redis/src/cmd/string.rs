//! String commands.

use crate::ctx::Ctx;
use crate::error::CmdResult;
use crate::spec::{acl, flags::*, CommandSpec};
use ferrocache_engine::{Blob, Value};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, READONLY | FAST, (1, 1, 1), get)
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Returns the string value of a key.", "O(1)"),
    CommandSpec::new("set", -3, WRITE | DENYOOM, (1, 1, 1), set)
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", "O(1)"),
];

fn get(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    match db.get(argv[1]) {
        None => out.null(),
        Some(e) => out.bulk(e.value.as_str()?),
    }
    Ok(())
}

fn set(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db(argv[1]);
    db.set(argv[1], Value::Str(Blob::new(argv[2])));
    ctx.out.ok();
    Ok(())
}
