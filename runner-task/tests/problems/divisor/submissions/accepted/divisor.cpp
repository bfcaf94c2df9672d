#include <cstdio>
int main() {
    long long n; std::scanf("%lld", &n);
    for (long long d = 2; d * d <= n; d++) if (n % d == 0) { std::printf("%lld\n", n / d); return 0; }
    std::puts("-1");
}
