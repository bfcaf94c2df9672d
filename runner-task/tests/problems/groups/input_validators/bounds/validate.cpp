// Input validator: a count n (1 to 10), then n integers below 10^13 in
// absolute value, and nothing else.
#include <cstdio>
#include <cstdlib>

int main() {
    int n;
    if (std::scanf("%d", &n) != 1 || n < 1 || n > 10) return 43;
    for (int i = 0; i < n; i++) {
        long long v;
        if (std::scanf("%lld", &v) != 1 || std::llabs(v) >= 10000000000000LL) return 43;
    }
    char c;
    if (std::scanf(" %c", &c) == 1) return 43;
    return 42;
}
