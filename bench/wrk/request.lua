-- wrk script for the bjkg benchmark: one fixed request, repeated; a JSON summary at the end.
-- Configured by environment variables (wrk passes no arguments to the script's init here):
--   BENCH_METHOD  GET or POST (default GET)
--   BENCH_BODY    file holding the POST body (a SPARQL query)
--   BENCH_CTYPE   Content-Type of the body (default application/sparql-query)
--   BENCH_ACCEPT  Accept header (default application/sparql-results+json)
--   BENCH_ETAG    If-None-Match value to send (the "cached" runs), optional
local method = os.getenv("BENCH_METHOD") or "GET"
local body_file = os.getenv("BENCH_BODY")
local body = nil
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  body = f:read("*a")
  f:close()
end
local headers = {}
headers["Accept"] = os.getenv("BENCH_ACCEPT") or "application/sparql-results+json"
if body then
  headers["Content-Type"] = os.getenv("BENCH_CTYPE") or "application/sparql-query"
end
local etag = os.getenv("BENCH_ETAG")
if etag and etag ~= "" then
  headers["If-None-Match"] = etag
end
local prepared = nil

request = function()
  if not prepared then
    prepared = wrk.format(method, nil, headers, body)
  end
  return prepared
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
