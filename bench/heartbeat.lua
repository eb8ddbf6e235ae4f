-- wrk script: heartbeats from KF_NODES registered nodes, round robin, each with its
-- node token (one per line in the KF_TOKENS file, in node order).
local counter = 0
local nodes = tonumber(os.getenv("KF_NODES") or "1000")
local tokens = {}
local path = os.getenv("KF_TOKENS")
if path then
  for line in io.lines(path) do tokens[#tokens + 1] = line end
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Keyforge-Secret"] = os.getenv("KF_SECRET") or ""
wrk.body = '{"ips":123456.5,"temperature_c":55.5,"ram_used_bytes":1073741824,"ram_total_bytes":8589934592}'

request = function()
  counter = counter + 1
  local i = counter % nodes
  wrk.headers["X-Keyforge-Node-Token"] = tokens[i + 1] or ""
  return wrk.format(nil, "/nodes/bench-" .. i .. "/heartbeat")
end
