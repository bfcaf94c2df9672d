const keep = [];
while (true) keep.push(new Array(1 << 17).fill(1.5));
