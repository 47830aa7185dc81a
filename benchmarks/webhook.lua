-- Webhook messages for wrk, as benchmarks/ingest.py posts them:
--
--   wrk -t1 -c64 -d5s -s benchmarks/webhook.lua http://HOST:PORT/hooks/SOURCE -- PREFIX SENDERS BATCH TOKEN
--
-- Every request carries one ~300-byte message (BATCH = 1) or an array of BATCH messages, each
-- with an id no other request uses: PREFIX-THREAD-COUNTER, from a counter in each wrk thread
-- (PREFIX keeps the runs against one database apart). The senders take turns: SENDERS distinct
-- phone numbers, one after the other. At the end one line starting with "RESULT " gives the
-- figures as JSON for ingest.py.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

local template = '{"id":"%s-%d-%d","network":"sms",'
  .. '"from":{"id":"+316%08d","name":"Sender %d"},'
  .. '"text":"%s","sent_at":"2026-11-25T22:10:00+01:00"}'
local filler = string.rep("are you awake? I really need to talk to you, it is about today. ", 8)

function init(args)
  prefix = args[1]
  senders = tonumber(args[2])
  batch = tonumber(args[3])
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. args[4]
  wrk.headers["Content-Type"] = "application/json"
  -- Pad the text so that a message with a typical id is about 300 bytes.
  local sample = string.format(template, prefix, thread_number, 100000, 1, 1, "")
  text = string.sub(filler, 1, math.max(300 - #sample, 0))
  -- Messages generated so far (read by done()). wrk builds one request before the run to
  -- check the script, so this can be one request ahead of what was sent.
  generated = 0
end

function request()
  local messages = {}
  for i = 1, batch do
    generated = generated + 1
    local sender = generated % senders
    messages[i] = string.format(template, prefix, thread_number, generated, sender, sender, text)
  end
  local body = batch == 1 and messages[1] or "[" .. table.concat(messages, ",") .. "]"
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local generated = 0
  for _, thread in ipairs(threads) do
    generated = generated + thread:get("generated")
  end
  local errors = summary.errors
  io.write(string.format(
    'RESULT {"duration_us": %d, "requests": %d, "http_errors": %d, "connect_errors": %d, '
      .. '"read_errors": %d, "write_errors": %d, "timeouts": %d, "generated": %d, '
      .. '"p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.duration, summary.requests, errors.status, errors.connect, errors.read,
    errors.write, errors.timeout, generated,
    latency:percentile(50), latency:percentile(99), latency.max
  ))
end
