void main() {
    ubyte[][] keep;
    while (true) {
        auto b = new ubyte[1 << 20];
        b[] = 1;
        keep ~= b;
    }
}
