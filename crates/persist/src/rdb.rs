//! RDB constants shared by the reader and the writer (Redis `rdb.h`).

pub const OP_SLOT_INFO: u8 = 244; // Valkey 8
pub const OP_FUNCTION2: u8 = 245;
pub const OP_FUNCTION_PRE_GA: u8 = 246;
pub const OP_MODULE_AUX: u8 = 247;
pub const OP_IDLE: u8 = 248;
pub const OP_FREQ: u8 = 249;
pub const OP_AUX: u8 = 250;
pub const OP_RESIZEDB: u8 = 251;
pub const OP_EXPIRETIME_MS: u8 = 252;
pub const OP_EXPIRETIME: u8 = 253;
pub const OP_SELECTDB: u8 = 254;
pub const OP_EOF: u8 = 255;

pub const T_STRING: u8 = 0;
pub const T_LIST: u8 = 1;
pub const T_SET: u8 = 2;
pub const T_ZSET: u8 = 3;
pub const T_HASH: u8 = 4;
pub const T_ZSET_2: u8 = 5;
pub const T_MODULE_PRE_GA: u8 = 6;
pub const T_MODULE_2: u8 = 7;
pub const T_HASH_ZIPMAP: u8 = 9;
pub const T_LIST_ZIPLIST: u8 = 10;
pub const T_SET_INTSET: u8 = 11;
pub const T_ZSET_ZIPLIST: u8 = 12;
pub const T_HASH_ZIPLIST: u8 = 13;
pub const T_LIST_QUICKLIST: u8 = 14;
pub const T_STREAM_LISTPACKS: u8 = 15;
pub const T_HASH_LISTPACK: u8 = 16;
pub const T_ZSET_LISTPACK: u8 = 17;
pub const T_LIST_QUICKLIST_2: u8 = 18;
pub const T_STREAM_LISTPACKS_2: u8 = 19;
pub const T_SET_LISTPACK: u8 = 20;
pub const T_STREAM_LISTPACKS_3: u8 = 21;
pub const T_HASH_METADATA_PRE_GA: u8 = 22;
pub const T_HASH_LISTPACK_EX_PRE_GA: u8 = 23;
pub const T_HASH_METADATA: u8 = 24;
pub const T_HASH_LISTPACK_EX: u8 = 25;

/// Special string encodings (length byte `11xxxxxx`).
pub const ENC_INT8: u8 = 0;
pub const ENC_INT16: u8 = 1;
pub const ENC_INT32: u8 = 2;
pub const ENC_LZF: u8 = 3;

/// Quicklist 2 node containers.
pub const QL_PLAIN: u64 = 1;
pub const QL_PACKED: u64 = 2;

/// Stream listpack entry flags.
pub const STREAM_DELETED: i64 = 1;
pub const STREAM_SAMEFIELDS: i64 = 2;

/// Oldest and newest RDB versions this reader accepts.
pub const MIN_VERSION: u32 = 1;
pub const MAX_VERSION: u32 = 12;
/// What redis-server 7.0 writes (and the newest it reads).
pub const DEFAULT_VERSION: u32 = 10;
