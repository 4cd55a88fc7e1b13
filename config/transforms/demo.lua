-- The demo's gateway script (docs/transform.md), on the /ws route of
-- config/gateway.yaml. Two views: "anonymous" viewers see orders without the
-- customer's name and city, "signed-in" viewers see them whole. Every event
-- of the demo's channels carries the view it was shaped for in data.view, so
-- the page can say which one it sees. Anything else (other channels, data
-- that is not an object, control messages) passes through untouched.
-- This shapes what the page shows; it is not access control (docs/transform.md).

local demo_channels = {orders = true, inventory = true, alerts = true}

function view_key(conn)
  -- The gateway passes an anonymous connection's user as json.null (which
  -- is true in Lua), --script-test may leave it out (nil): both are anonymous.
  local user = conn.user
  if type(user) == "string" and user ~= "" then return "signed-in" end
  return "anonymous"
end

function on_event(event, key)
  local d = event.data
  local ch = event.channel
  if type(d) ~= "table" or not (demo_channels[ch] or ch:sub(1, 5) == "user:") then
    return event                 -- not ours: delivered as the original frame
  end
  if ch == "orders" and key == "anonymous" then
    d.customer = nil
    d.city = nil
  end
  d.view = key
  return event
end
