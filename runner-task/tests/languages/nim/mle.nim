var keep: seq[string]
while true:
  keep.add(newString(1 shl 20))
  keep[^1][0] = 'x'
  for i in countup(0, (1 shl 20) - 1, 4096): keep[^1][i] = 'x'
