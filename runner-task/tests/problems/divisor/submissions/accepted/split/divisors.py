def smallest(n):
    d = 2
    while d * d <= n:
        if n % d == 0:
            return d
        d += 1
    return -1
