local keep = {}
while true do keep[#keep + 1] = string.rep('x', 1 << 20) .. #keep end
