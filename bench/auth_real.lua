-- wrk script of bench/auth_real.py: every request carries the next bearer token of a file.
--   wrk -s auth_real.lua URL -- TOKENS_FILE METHOD PATH [JSON_BODY]
-- The tokens are used in order and then from the start again, so a token comes back
-- only after all the others (the file's length / req/s seconds later).
local tokens = {}
local count = 0
local next_token = 0
local method, path, body

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then
      count = count + 1
      tokens[count] = line
    end
  end
  method, path = args[2], args[3]
  if args[4] ~= nil and args[4] ~= "" then
    body = args[4]
  end
end

function request()
  next_token = next_token % count + 1
  local headers = { ["Authorization"] = "Bearer " .. tokens[next_token] }
  if body ~= nil then
    headers["Content-Type"] = "application/json"
  end
  return wrk.format(method, path, headers, body)
end
