void main() { int x = "no"; }
