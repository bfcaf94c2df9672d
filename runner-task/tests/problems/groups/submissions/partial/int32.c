#include <stdio.h>
int main(void) { int n, x, s = 0; scanf("%d", &n); for (int i = 0; i < n; i++) { long long v; scanf("%lld", &v); x = (int)v; s += x; } printf("%d\n", s); return 0; }
