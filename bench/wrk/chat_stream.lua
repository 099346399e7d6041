-- wrk script: POST /v1/chat/completions with "stream": true (see common.lua for arguments).
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local common = dofile(here .. "common.lua")

function init(args)
  common.configure(true, args)
end

done = common.done
