var keep = new List<byte[]>();
while (true) keep.Add(new byte[1 << 20]);
