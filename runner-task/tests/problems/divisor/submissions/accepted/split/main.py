from divisors import smallest

print(smallest(int(input())))
