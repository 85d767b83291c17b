-- wrk script for the bjkg benchmark: for every request, one drawn at random from a list
-- (a query family's pre-generated bodies), or one fixed request; a JSON summary at the end.
-- Configured by environment variables (wrk passes no arguments to the script's init here):
--   BENCH_METHOD    GET or POST (default GET)
--   BENCH_REQUESTS  file with one request per line, drawn at random for each request:
--                   POST: the body (form-encoded `query=…`, so it holds no newline);
--                   GET: the path with its query string, optionally a tab and the
--                   If-None-Match value to send with it (the "cached" runs)
--   BENCH_BODY      file holding one fixed POST body (when there is no BENCH_REQUESTS)
--   BENCH_CTYPE     Content-Type of the bodies (default application/sparql-query)
--   BENCH_ACCEPT    Accept header (default application/sparql-results+json)
--   BENCH_ETAG      If-None-Match value of the fixed request, optional
--   BENCH_SEED      seed of the draws (default 1): a run is repeatable
local method = os.getenv("BENCH_METHOD") or "GET"
local accept = os.getenv("BENCH_ACCEPT") or "application/sparql-results+json"
local ctype = os.getenv("BENCH_CTYPE") or "application/sparql-query"

local function read_all(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

local function headers_for(body, etag)
  local h = {}
  h["Accept"] = accept
  if body then
    h["Content-Type"] = ctype
  end
  if etag and etag ~= "" then
    h["If-None-Match"] = etag
  end
  return h
end

-- Every request formatted once, before the run: drawing one costs a table lookup, so the
-- client spends no more per request than with a fixed one.
local prepared = {}

local function prepare()
  local list_file = os.getenv("BENCH_REQUESTS")
  if list_file and list_file ~= "" then
    for line in io.lines(list_file) do
      line = line:gsub("\r$", "")
      if line ~= "" then
        if method == "POST" then
          prepared[#prepared + 1] = wrk.format("POST", nil, headers_for(line, nil), line)
        else
          local path, etag = line:match("^([^\t]+)\t?(.*)$")
          prepared[#prepared + 1] = wrk.format(method, path, headers_for(nil, etag), nil)
        end
      end
    end
    assert(#prepared > 0, "BENCH_REQUESTS lists no request: " .. list_file)
  else
    local body_file = os.getenv("BENCH_BODY")
    local body = nil
    if body_file and body_file ~= "" then
      body = read_all(body_file)
    end
    prepared[1] = wrk.format(method, nil, headers_for(body, os.getenv("BENCH_ETAG")), body)
  end
end

init = function(args)
  math.randomseed(tonumber(os.getenv("BENCH_SEED") or "1"))
  prepare()
end

request = function()
  if #prepared == 1 then
    return prepared[1]
  end
  return prepared[math.random(#prepared)]
end

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"seconds":%.6f,"rps":%.3f,"errors":%d,"bad_status":%d,' ..
    '"p50_ms":%.4f,"p90_ms":%.4f,"p99_ms":%.4f,"mean_ms":%.4f,"max_ms":%.4f,"bytes":%d}\n',
    summary.requests, seconds, summary.requests / seconds,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.mean / 1000, latency.max / 1000, summary.bytes))
end
