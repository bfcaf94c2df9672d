import strutils
let xs = stdin.readLine().splitWhitespace()
echo parseBiggestInt(xs[0]) + parseBiggestInt(xs[1])
