wrk.method = "POST"
wrk.body = '{"model":"fast","messages":[{"role":"user","content":"hello there"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-master"
done = function(summary, latency, requests)
  io.write(string.format("p50=%d p99=%d\n", latency:percentile(50), latency:percentile(99)))
end
