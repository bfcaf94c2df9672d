# Input validator: a count n (1 to max_n), then exactly n integers on one line.
import sys

lines = sys.stdin.read().split("\n")
try:
    n = int(lines[0])
    xs = [int(x) for x in lines[1].split(" ")]
except (ValueError, IndexError):
    sys.exit(43)
if not 1 <= n <= {{max_n}} or len(xs) != n or lines[2:] != [""]:
    sys.exit(43)
sys.exit(42)
