-- bench: an identity on_event (one view): the cost of running a script at all
function on_event(event, key)
  return event
end
