-- wrk script for bench/loadgen.py: POST a fixed body with fixed headers, then print one JSON
-- line (prefixed BENCH_JSON) with the counts, the errors and the latency percentiles.
--   BENCH_BODY     the request body
--   BENCH_HEADERS  "name: value" lines, separated by newlines

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or ""
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then
    wrk.headers[name] = value
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"mean":%.1f,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
