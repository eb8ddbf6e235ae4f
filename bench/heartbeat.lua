-- wrk script: heartbeats from KF_NODES registered nodes, round robin.
local counter = 0
local nodes = tonumber(os.getenv("KF_NODES") or "1000")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Keyforge-Secret"] = os.getenv("KF_SECRET") or ""
wrk.body = '{"ips":123456.5,"temperature_c":55.5,"ram_used_bytes":1073741824,"ram_total_bytes":8589934592}'

request = function()
  counter = counter + 1
  return wrk.format(nil, "/nodes/bench-" .. (counter % nodes) .. "/heartbeat")
end
