# The answer's integer, and nothing else, is right.
import os
import sys

answer = open(sys.argv[2]).read().split()
got = sys.stdin.read().split()
if got != answer:
    with open(os.path.join(sys.argv[3], "judgemessage.txt"), "w") as m:
        m.write(f"expected {answer}, got {got}\n")
    sys.exit(43)
sys.exit(42)
