-- Every Lua -> RESP conversion.
return {
  1, -1, 3.99, -3.99, 0, 'str', '', true, false,
  {ok = 'FINE'}, {err = 'MYERR nested'},
  {1, {2, {3, {'deep'}}}},
  redis.status_reply('STATUS'),
  redis.error_reply('E2 nested error'),
  {1, 2, nil, 4},
}
