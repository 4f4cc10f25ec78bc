-- wrk script for perf/scripts/load.sh: optionally sends If-None-Match (env INM)
-- and prints one machine-readable RESULT line at the end of the run.
-- Latencies are in microseconds; bytes are what wrk read from the socket
-- (status line, headers and body), divided by the number of responses.

local inm = os.getenv("INM")
if inm ~= nil and inm ~= "" then
  wrk.headers["If-None-Match"] = inm
end

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local errors = summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    "RESULT rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d bytes_per_response=%.1f requests=%d errors=%d bad_status=%d\n",
    summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    summary.bytes / math.max(summary.requests, 1),
    summary.requests, errors, summary.errors.status))
end
