-- wrk script for `make bench-e2e`: POST /v1/leads with a new VP each time, so every request
-- creates a lead that scores as an MQL and is routed. Arguments: API key, run tag.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local key, run
local n = 0
function init(args)
  key, run = args[1], args[2]
end

function request()
  n = n + 1
  local body = string.format(
    '{"email":"api-%s-%d-%d@bench-e2e.io","first_name":"Bench","title":"VP Revenue","company":"Bench Co","lead_source":"bench"}',
    run, tid, n)
  return wrk.format("POST", "/v1/leads",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key }, body)
end
