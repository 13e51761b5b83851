-- wrk script of bench/soak (go run ./bench/soak), one wrk -t1 process per path:
--
--   wrk -t1 -cN -dD --latency --timeout 10s -s soak.lua URL -- NAME METHOD PATH WANTFILE BODYBYTES N
--
-- wrk's response() is not told which request an answer belongs to, so one
-- thread (one Lua state) carrying a mix of paths could not tell whose a 502
-- is. With one path per process every answer, every status and every lost
-- request belongs to that path.
--
-- Counted: requests sent (request() calls), answers (response() calls) by
-- status, 2xx answers whose body is not exactly WANTFILE's bytes, and lost
-- requests: those whose connection died before their answer. At most N
-- requests (one per connection) can be waiting for an answer, so when
-- sent - answered exceeds N, the excess was lost; wrk calls request() for
-- the reconnected connection right away, so under load a loss is seen
-- within milliseconds. Every failure is kept with its second (os.time(),
-- the wall clock bench/soak's kill times use). done() prints one line:
--
--   soak-result name=64k sent=S answered=A lost=L lostend=E badbody=B connect=.. read=..
--     write=.. status=.. timeout=.. p50us=.. p99us=.. statuses=200:9,502:1 fails=1767000000:502:1

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  name, method, path = args[1], args[2], args[3]
  local f = assert(io.open(args[4], "rb"))
  want = f:read("*a")
  f:close()
  local n = tonumber(args[5])
  conns = tonumber(args[6])
  local headers, body = {}, nil
  if n > 0 then
    body = string.rep("0123456789abcdef", n / 16)
    headers["Content-Type"] = "application/octet-stream"
  end
  req = wrk.format(method, path, headers, body)
  sent, answered, lost, badbody = 0, 0, 0, 0
  statuses = {}
  fails = {}
  verified = false
end

local function note(kind, n)
  local key = os.time() .. ":" .. kind
  fails[key] = (fails[key] or 0) + n
end

function request()
  -- wrk calls request() once before the run to check that the request
  -- parses (script_verify_request); that one is never sent.
  if not verified then
    verified = true
    return req
  end
  sent = sent + 1
  local gone = sent - answered - conns
  if gone > lost then
    note("lost", gone - lost)
    lost = gone
  end
  return req
end

function response(status, headers, body)
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if status < 200 or status > 299 then
    note(status, 1)
  elseif body ~= want then
    badbody = badbody + 1
    note("badbody", 1)
  end
end

local function list(t)
  local parts = {}
  for k, v in pairs(t) do
    table.insert(parts, k .. ":" .. string.format("%d", v))
  end
  table.sort(parts)
  if #parts == 0 then
    return "-"
  end
  return table.concat(parts, ",")
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    local s, a, l, c = t:get("sent"), t:get("answered"), t:get("lost"), t:get("conns")
    local e = summary.errors
    io.write(string.format(
      "soak-result name=%s sent=%d answered=%d lost=%d lostend=%d badbody=%d connect=%d read=%d write=%d status=%d timeout=%d p50us=%d p99us=%d statuses=%s fails=%s\n",
      t:get("name"), s, a, l, math.max(l, s - a - c), t:get("badbody"),
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99),
      list(t:get("statuses")), list(t:get("fails"))))
  end
end
