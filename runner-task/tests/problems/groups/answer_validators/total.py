# Answer validator: the answer (standard input) is one integer, the total
# of the test's input (the file named by the first argument).
import sys

with open(sys.argv[1]) as f:
    f.readline()
    values = [int(v) for v in f.readline().split()]
answer = sys.stdin.read().split()
if answer != [str(sum(values))]:
    print(f"expected the total {sum(values)}, the answer says {answer}", file=sys.stderr)
    sys.exit(43)
sys.exit(42)
