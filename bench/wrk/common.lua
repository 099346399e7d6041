-- Shared by chat.lua and chat_stream.lua (wrk runs one script per run).
--
-- Arguments after `--` on the wrk command line:
--   1: the bearer key ("-" for none)   2: the model name
--   3..n: extra request headers, "Name: value" (Portkey's x-portkey-* headers)
-- done() prints one line, "BENCH {json}", that bench/overhead/loadgen.py parses:
-- exact percentiles from wrk's histogram rather than its rounded text report.

local M = {}

function M.configure(stream, args)
  local key, model = args[1], args[2] or "bench-model"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if key and key ~= "-" then
    wrk.headers["Authorization"] = "Bearer " .. key
  end
  for i = 3, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    if name then
      wrk.headers[name] = value
    end
  end
  local body = '{"model":"' .. model .. '","messages":[{"role":"user",'
    .. '"content":"Say hello from the benchmark."}],"max_tokens":16'
  if stream then
    body = body .. ',"stream":true'
  end
  wrk.body = body .. "}"
end

function M.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,'
      .. '"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max))
end

return M
