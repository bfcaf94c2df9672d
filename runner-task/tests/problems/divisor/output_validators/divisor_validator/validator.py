# Problem Package Format output validator: input answer feedback_dir < team output.
import sys

def reject(msg):
    with open(sys.argv[3] + "judgemessage.txt", "w") as f:
        f.write(msg)
    sys.exit(43)

n = int(open(sys.argv[1]).read())
prime = open(sys.argv[2]).read().strip() == "-1"
tokens = sys.stdin.read().split()
if len(tokens) != 1:
    reject("expected exactly one number, got %d tokens" % len(tokens))
try:
    d = int(tokens[0])
except ValueError:
    reject("not an integer: %r" % tokens[0][:20])
if prime:
    if d != -1:
        reject("%d is prime but the answer was %d" % (n, d))
elif not (1 < d < n and n % d == 0):
    reject("%d is not a proper divisor of %d" % (d, n))
sys.exit(42)
