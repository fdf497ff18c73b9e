-- Round trips through the bundled libraries.
local out = {}
local obj = {name = 'x', list = {1, 2, 3.5, 'four'}, nested = {ok = true}}
local js = cjson.encode({1, 2, 3.25, 'a"b', {k = 'v'}, false})
out[#out + 1] = js
local back = cjson.decode(js)
out[#out + 1] = tostring(#back) .. ':' .. back[4] .. ':' .. back[5].k
out[#out + 1] = cjson.encode(cjson.decode('{"a":[1,2,{"b":null}],"c":"\\u00e9\\n"}').a)
out[#out + 1] = cjson.encode(obj.list)
out[#out + 1] = cjson.encode(1/3) .. ' ' .. cjson.encode(1e20) .. ' ' .. cjson.encode(-0.5)
out[#out + 1] = cjson.encode('\1\127/')
local packed = cmsgpack.pack({1, 2, 3}, 'hello', 3.5, -200, 70000, true, {a = 1})
out[#out + 1] = redis.sha1hex(packed)
local a, b, c, d, e, f, g = cmsgpack.unpack(packed)
out[#out + 1] = table.concat(a, ',') .. '|' .. b .. '|' .. c .. '|' .. d .. '|' .. e .. '|' .. tostring(f) .. '|' .. g.a
out[#out + 1] = redis.sha1hex(cmsgpack.pack(string.rep('x', 40), 2^40, -2^40, 0.1))
out[#out + 1] = bit.tohex(bit.band(0xff00, 0x0ff0)) .. ' ' .. bit.bor(1, 2, 4) .. ' ' .. bit.bxor(5, 3)
out[#out + 1] = bit.bnot(0) .. ' ' .. bit.lshift(1, 31) .. ' ' .. bit.rshift(-1, 28) .. ' ' .. bit.arshift(-256, 4)
out[#out + 1] = bit.rol(0x12345678, 8) .. ' ' .. bit.ror(0x12345678, 8) .. ' ' .. bit.tohex(-1, -4) .. ' ' .. bit.tobit(2^32 + 5)
local s = struct.pack('>iHb', 1000000, 65000, -5)
out[#out + 1] = redis.sha1hex(s) .. ' ' .. struct.size('>iHb')
local x, y, z, nxt = struct.unpack('>iHb', s)
out[#out + 1] = x .. ' ' .. y .. ' ' .. z .. ' ' .. nxt
local s2 = struct.pack('<dfc3s', 1.5, 0.25, 'abc', 'zero')
local d1, f1, c1, s1 = struct.unpack('<dfc3s', s2)
out[#out + 1] = d1 .. ' ' .. f1 .. ' ' .. c1 .. ' ' .. s1
return out
