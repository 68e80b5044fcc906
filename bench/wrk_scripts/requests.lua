-- wrk script of bench/run.py: cycle through a list of prepared requests, count answers whose
-- status is not the expected one, print one machine-readable summary line.
--
--   wrk -t1 -cC -dDs --latency -s bench/wrk_scripts/requests.lua URL -- SPEC.lua
--
-- SPEC.lua (written by bench/run.py) returns
--   { requests = { {method=, path=, headers={...}, body=}, ... }, expect = {200, ...},
--     pace_ms = 0 }
-- Each connection starts at a different place in the list, so users and threads are mixed.
-- wrk counts only socket errors and statuses >= 400; a 303 to the sign-in page would pass
-- for a success, hence ``response`` below.

local prepared = {}
local count = 0
local index = 0
local expected = {}
bad = 0          -- per thread (each wrk thread has its own Lua state); read back in done()
last_bad = 0     -- the last unexpected status, to say what went wrong
pace_ms = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local spec = dofile(args[1])
  for _, r in ipairs(spec.requests) do
    count = count + 1
    prepared[count] = wrk.format(r.method, r.path, r.headers, r.body)
  end
  for _, status in ipairs(spec.expect) do
    expected[status] = true
  end
  pace_ms = spec.pace_ms or 0
  index = math.random(count) - 1
end

function request()
  index = index % count + 1
  return prepared[index]
end

function response(status, headers, body)
  if not expected[status] then
    bad = bad + 1
    last_bad = status
  end
end

function done(summary, latency, requests)
  local bad_total, bad_status = 0, 0
  for _, thread in ipairs(threads) do
    bad_total = bad_total + (thread:get("bad") or 0)
    if (thread:get("last_bad") or 0) ~= 0 then bad_status = thread:get("last_bad") end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "timeouts": %d, "status_errors": %d, ' ..
    '"unexpected": %d, "unexpected_status": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.timeout,
    e.status, bad_total, bad_status, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
