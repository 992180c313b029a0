-- The one wrk script of `cargo xtask bench`. The mix of requests comes from the environment,
-- so every scenario runs the same code:
--
--   BENCH_MIX            kind:weight[,kind:weight...], e.g. "status:70,me:19,invite:10,signin:1"
--   BENCH_STATUS         file: "staff key<TAB>practice id<TAB>client id" lines, for `status` and
--                        `store` (the clients may belong to many practices, each line with a key
--                        of its client's practice)
--   BENCH_INVITE         file: "staff key<TAB>client id" lines of clients without an account, for
--                        `invite`
--   BENCH_LIST_FIRST     file: "staff key<TAB>query" lines for `list_first`, `list_search` and
--   BENCH_LIST_SEARCH    `list_next`: GET /api/v1/clients?<query> (the first page, a search, the
--   BENCH_LIST_NEXT      page after the first, by its cursor)
--   BENCH_ACCOUNTS       file: "username<TAB>password" lines, for `signin`
--   BENCH_PRACTICE       practice slug, for `signin`
--   BENCH_SESSIONS       file: session tokens, for `me`
--   BENCH_REGISTRATIONS  file: "token<TAB>username<TAB>password" lines, for `register`; each line
--                        is used once, split between the threads; a thread stops when its share
--                        is used up
--
-- Client requests carry a random X-Forwarded-For (the server runs with --trust-forwarded-for):
-- a clinic's clients sign in from many addresses, and the per-IP limit is not what is measured.
-- done() prints one line "BENCH_JSON {...}" that the xtask parses.

local threads = {}

function setup(thread)
   thread:set("thread_number", #threads)
   table.insert(threads, thread)
end

local function lines(variable)
   local path = os.getenv(variable)
   local found = {}
   if path == nil or path == "" then return found end
   for line in io.lines(path) do
      if line ~= "" then table.insert(found, line) end
   end
   return found
end

local function fields(line)
   local found = {}
   for field in string.gmatch(line, "[^\t]+") do table.insert(found, field) end
   return found
end

-- JSON string escaping for the few characters a generated password or token could hold.
local function quoted(text)
   return '"' .. string.gsub(text, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end) .. '"'
end

local mix = {}
local total_weight = 0
local status_lines, invite_lines, list_lines, accounts, sessions, registrations
local practice
local next_index = {}
local own_registrations = {}
statuses = {}

function init(args)
   math.randomseed(os.time() * 1000 + thread_number)
   for kind, weight in string.gmatch(os.getenv("BENCH_MIX") or "", "([%w_]+):(%d+)") do
      total_weight = total_weight + tonumber(weight)
      table.insert(mix, { kind = kind, upto = total_weight })
   end
   status_lines = lines("BENCH_STATUS")
   invite_lines = lines("BENCH_INVITE")
   list_lines = {
      list_first = lines("BENCH_LIST_FIRST"),
      list_search = lines("BENCH_LIST_SEARCH"),
      list_next = lines("BENCH_LIST_NEXT"),
   }
   accounts = lines("BENCH_ACCOUNTS")
   sessions = lines("BENCH_SESSIONS")
   practice = os.getenv("BENCH_PRACTICE") or ""
   local all_registrations = lines("BENCH_REGISTRATIONS")
   local thread_count = tonumber(os.getenv("BENCH_THREADS") or "1")
   for i, line in ipairs(all_registrations) do
      if (i - 1) % thread_count == thread_number then table.insert(own_registrations, line) end
   end
end

-- Round robin through a list, each thread starting at its own offset.
local function next_of(name, list)
   local i = next_index[name] or (thread_number * 7919)
   next_index[name] = i + 1
   return list[(i % #list) + 1]
end

local function client_headers(extra)
   local headers = {
      ["Content-Type"] = "application/json",
      ["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254)),
   }
   for name, value in pairs(extra or {}) do headers[name] = value end
   return headers
end

local function staff_headers(key)
   return { ["Authorization"] = "Bearer " .. key }
end

local function list_page(kind)
   local line = fields(next_of(kind, list_lines[kind]))
   return wrk.format("GET", "/api/v1/clients?" .. line[2], staff_headers(line[1]))
end

local registrations_sent = 0

local builders = {
   plain = function() return wrk.format("GET", "/__bench/plain") end,
   -- One primary-key read of the client through the server's store, nothing else.
   store = function()
      local line = fields(next_of("store", status_lines))
      return wrk.format("GET", "/__bench/store/" .. line[2] .. "/" .. line[3])
   end,
   status = function()
      local line = fields(next_of("status", status_lines))
      return wrk.format("GET", "/api/v1/clients/" .. line[3] .. "/portal", staff_headers(line[1]))
   end,
   list_first = function() return list_page("list_first") end,
   list_search = function() return list_page("list_search") end,
   list_next = function() return list_page("list_next") end,
   invite = function()
      local line = fields(next_of("invite", invite_lines))
      return wrk.format("POST", "/api/v1/clients/" .. line[2] .. "/portal/invitation", staff_headers(line[1]))
   end,
   signin = function()
      local account = fields(next_of("signin", accounts))
      local body = '{"practice":' .. quoted(practice) .. ',"username":' .. quoted(account[1])
         .. ',"password":' .. quoted(account[2]) .. '}'
      return wrk.format("POST", "/api/v1/portal/sessions", client_headers(), body)
   end,
   me = function()
      return wrk.format("GET", "/api/v1/portal/me", client_headers({ ["Authorization"] = "Bearer " .. next_of("me", sessions) }))
   end,
   register = function()
      registrations_sent = registrations_sent + 1
      if registrations_sent > #own_registrations then
         -- Every link of this thread is used: stop rather than replay used links (the few
         -- requests already in flight still count).
         wrk.thread:stop()
      end
      local line = fields(own_registrations[((registrations_sent - 1) % #own_registrations) + 1])
      local body = '{"token":' .. quoted(line[1]) .. ',"username":' .. quoted(line[2]) .. ',"password":' .. quoted(line[3]) .. '}'
      return wrk.format("POST", "/api/v1/portal/registrations", client_headers(), body)
   end,
}

function request()
   local roll = math.random(1, total_weight)
   for _, entry in ipairs(mix) do
      if roll <= entry.upto then return builders[entry.kind]() end
   end
   return builders[mix[#mix].kind]()
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local merged = {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
         merged[status] = (merged[status] or 0) + count
      end
   end
   local parts = {}
   for status, count in pairs(merged) do table.insert(parts, string.format('"%d":%d', status, count)) end
   local errors = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"statuses":{%s}}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, errors.connect, errors.read, errors.write, errors.timeout,
      table.concat(parts, ",")))
end
