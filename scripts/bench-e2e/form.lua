-- wrk script for `make bench-e2e`: a browser's form post (urlencoded, with Origin) to /f/{form},
-- a new VP each time, from a different visitor address each time (the form's rate limit is per
-- address). Arguments: form id, run tag, allowed origin.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local form, run, origin
local n = 0
function init(args)
  form, run, origin = args[1], args[2], args[3]
end

function request()
  n = n + 1
  local body = string.format(
    "email=form-%s-%d-%d%%40bench-e2e.io&first_name=Bench&title=VP+Revenue&company=Bench+Co",
    run, tid, n)
  local ip = string.format("10.%d.%d.%d", tid, math.floor(n / 250) % 250, n % 250 + 1)
  return wrk.format("POST", "/f/" .. form, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Origin"] = origin,
    ["CF-Connecting-IP"] = ip,
  }, body)
end
