xs = []
while True:
    xs.append(bytearray(1 << 20))
