-- wrk script for bench/webhooks.py: POST pre-signed Stripe events, each event once.
--   wrk -t2 -c16 -d5s -s bench/webhooks.lua http://127.0.0.1:PORT -- EVENTS_FILE THREADS
-- EVENTS_FILE holds records "<Stripe-Signature> <length>\n<body of length bytes>".
-- Thread k of n posts records k, k+n, k+2n, ...; a thread that runs out starts over
-- (those are repeats, and bench/webhooks.py refuses such a run as too short a file).

local threads = {}
local count = 0

function setup(thread)
  thread:set("id", count)
  table.insert(threads, thread)
  count = count + 1
end

function init(args)
  local path, nthreads = args[1], tonumber(args[2])
  local file = assert(io.open(path, "rb"))
  bodies, signatures = {}, {}
  local n = 0
  while true do
    local head = file:read("*l")
    if not head then break end
    local signature, length = head:match("^(%S+) (%d+)$")
    local body = file:read(tonumber(length))
    if n % nthreads == id then
      table.insert(bodies, body)
      table.insert(signatures, signature)
    end
    n = n + 1
  end
  file:close()
  sent, failed, wrapped = 0, 0, 0
end

function request()
  local i = sent % #bodies + 1
  if sent >= #bodies then wrapped = wrapped + 1 end
  sent = sent + 1
  return wrk.format("POST", "/webhooks/stripe", {
    ["Stripe-Signature"] = signatures[i],
    ["Content-Type"] = "application/json",
  }, bodies[i])
end

function response(status, headers, body)
  if status ~= 200 then
    failed = failed + 1
    if failed <= 3 then io.stderr:write("answer " .. status .. ": " .. body:sub(1, 200) .. "\n") end
  end
end

function done(summary, latency, requests)
  local total_sent, total_failed, total_wrapped = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_sent = total_sent + thread:get("sent")
    total_failed = total_failed + thread:get("failed")
    total_wrapped = total_wrapped + thread:get("wrapped")
  end
  io.write(string.format("webhooks sent=%d failed=%d wrapped=%d\n",
    total_sent, total_failed, total_wrapped))
end
