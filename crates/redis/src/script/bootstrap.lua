-- ferrocache: Lua sandbox set-up, run once per VM (Redis 7.0's
-- luaRegisterRedisAPI + global protection). Vanilla Lua 5.1 has no
-- read-only tables, so protection is emulated: every protected table is an
-- empty proxy whose metatable forwards reads and refuses writes, and the raw
-- accessors (rawset, rawget, next, pairs, setmetatable, getmetatable) see
-- through proxies. Frames of this chunk are skipped when the error handler
-- looks for the user's source line.
local native = ...
local H = {}                 -- the real globals, hidden behind _G
local G = _G
local real_of = {}           -- proxy -> real table
local shown_mt = {}          -- proxy -> what getmetatable returns
local type_, error_, tostring_, select_ = type, error, tostring, select
local rawset_, rawget_, next_ = rawset, rawget, next
local setmetatable_, getmetatable_, pcall_, pairs_ = setmetatable, getmetatable, pcall, pairs
local RO = "Attempt to modify a readonly table"

local function ro_newindex() error_(RO, 2) end

local function protect(t)
  local p = {}
  real_of[p] = t
  setmetatable_(p, {__index = t, __newindex = ro_newindex, __metatable = false})
  return p
end

-- redis.* ------------------------------------------------------------------
local slot = {}              -- slot.impl: the running script's dispatcher
local redis = {}

local function trim_crlf(s)
  return (s:gsub("^[\r\n]+", ""):gsub("[\r\n]+$", ""))
end

-- Redis's luaPushErrorBuff: "-CODE msg" or "msg" (code ERR).
local function mkerr(s)
  local code, msg
  if s:sub(1, 1) == "-" then
    local sp = s:find(" ", 1, true)
    if sp then
      code, msg = s:sub(2, sp - 1), s:sub(sp + 1)
    else
      code, msg = "ERR", s:sub(2)
    end
  else
    code, msg = "ERR", s
  end
  return {err = code .. " " .. trim_crlf(msg)}
end

local function no_ctx(what)
  error_(mkerr(what .. " can only be called inside a script invocation"))
end

redis.call = native.call
redis.pcall = native.pcall
redis.setresp = native.setresp
redis.set_repl = native.set_repl
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.error_reply = function(...)
  local e = ...
  if select_("#", ...) ~= 1 or type_(e) ~= "string" then
    return mkerr("wrong number or type of arguments")
  end
  if e:sub(1, 1) ~= "-" then e = "-" .. e end
  return mkerr(e)
end
redis.status_reply = function(...)
  local s = ...
  if select_("#", ...) ~= 1 or type_(s) ~= "string" then
    return mkerr("wrong number or type of arguments")
  end
  return {ok = s}
end
redis.sha1hex = native.sha1hex
redis.log = native.log
redis.acl_check_cmd = native.acl_check_cmd
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION = native.version
redis.REDIS_VERSION_NUM = native.version_num

-- Function libraries: redis.register_function works only while FUNCTION
-- LOAD runs the library's body (slot.register is set then).
if native.functions then
  redis.register_function = function(...)
    local f = slot.register
    if not f then
      error_(mkerr("redis.register_function can only be called on FUNCTION LOAD command"))
    end
    return f(...)
  end
end

-- pcall converts Redis error tables to their message (luaRedisPcall).
local function fix_pcall(ok, ...)
  if ok then return ok, ... end
  local e = ...
  if type_(e) == "table" then
    local m = rawget_(e, "err")
    if type_(m) == "string" or type_(m) == "number" then return false, m end
  elseif type_(e) == "userdata" then
    -- An error raised by native code (redis.call, cjson...): its message.
    return false, native.errmsg(e)
  end
  return false, e
end
local new_pcall = function(...) return fix_pcall(pcall_(...)) end

-- Raw accessors that see through proxies.
local new_rawset = function(t, k, v)
  if real_of[t] then error_(RO, 0) end
  return rawset_(t, k, v)
end
local new_rawget = function(t, k)
  local r = real_of[t]
  if r then return rawget_(r, k) end
  return rawget_(t, k)
end
local new_next = function(t, k)
  local r = real_of[t]
  if r then return next_(r, k) end
  return next_(t, k)
end
local new_pairs = function(t)
  local r = real_of[t]
  if r then return next_, r, nil end
  return pairs_(t)
end
local new_setmetatable = function(t, mt)
  if real_of[t] then error_(RO, 0) end
  return setmetatable_(t, mt)
end
local new_getmetatable = function(t)
  if real_of[t] then return shown_mt[t] end
  return getmetatable_(t)
end

-- Populate the hidden globals with the allow-listed names.
for _, name in ipairs({"xpcall", "tostring", "error", "assert", "tonumber",
    "rawequal", "collectgarbage", "type", "select", "unpack", "gcinfo",
    "ipairs", "loadstring", "load", "_VERSION"}) do
  H[name] = G[name]
end
H.pcall = new_pcall
H.rawset = new_rawset
H.rawget = new_rawget
H.next = new_next
H.pairs = new_pairs
H.setmetatable = new_setmetatable
H.getmetatable = new_getmetatable
H.coroutine = protect(coroutine)
H.string = protect(string)
H.table = protect(table)
local math_t = {}
for k, v in next_, math do math_t[k] = v end
math_t.random = native.random
math_t.randomseed = native.randomseed
H.math = protect(math_t)
H.redis = protect(redis)
H.cjson = protect(native.cjson)
H.bit = protect(native.bit)
H.struct = protect(native.struct)
H.cmsgpack = protect(native.cmsgpack)
H.__redis__err__handler = native.handler

-- Lock down the thread's globals table: empty, reads go to H, writes fail.
for k in next_, G do G[k] = nil end
H._G = G
setmetatable_(H, {__index = function(_, k)
  error_("Script attempted to access nonexistent global variable '" .. tostring_(k) .. "'", 2)
end})
local shown = protect({__index = function() end})
real_of[G] = H
shown_mt[G] = shown
setmetatable_(G, {__index = H, __newindex = ro_newindex, __metatable = shown})

-- Runner: call `f` under the error handler. `args` are the function's
-- arguments (KEYS, ARGV for FCALL; none for EVAL).
local xpcall_ = xpcall
local handler = native.handler
-- FCALL's arguments go through upvalues of one trampoline (cleared before
-- the call) rather than a new closure per call: one script runs at a time.
local cf, ck, ca
local function tramp()
  local f, k, a = cf, ck, ca
  cf, ck, ca = nil, nil, nil
  return f(k, a)
end
local function run(f, keys, args)
  if keys then
    cf, ck, ca = f, keys, args
    return xpcall_(tramp, handler)
  end
  return xpcall_(f, handler)
end

return slot, H, run, mkerr
