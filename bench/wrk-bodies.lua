-- wrk script: POST a different pre-made body with every request. Bodies are one per line in
-- the file named by env WRK_BODIES; each wrk thread takes every Nth line (N = threads) so no
-- body (no one-time token) is sent twice, and a thread that runs out stops.
local threads = {}
local nthreads = tonumber(os.getenv("WRK_THREADS") or "2")

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  bodies = {}
  local i = 0
  for line in io.lines(os.getenv("WRK_BODIES")) do
    if i % nthreads == tid then table.insert(bodies, line) end
    i = i + 1
  end
  n = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  local body = bodies[n]
  if body == nil then
    -- Out of bodies: stop this thread rather than resend a spent token.
    wrk.thread:stop()
    body = bodies[#bodies]
  end
  return wrk.format(nil, wrk.path, nil, body)
end
