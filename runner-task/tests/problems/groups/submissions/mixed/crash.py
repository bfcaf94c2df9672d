# Refuses values beyond 32 bits: it crashes on two large tests.
# @EXPECTED_RESULTS@: RUN_ERROR
input()
values = [int(v) for v in input().split()]
assert all(abs(v) < 2**31 for v in values)
print(sum(values))
