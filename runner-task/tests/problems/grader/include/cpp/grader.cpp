// Reads the input, calls the submission's total() and prints its answer.
#include <cstdio>
#include <vector>

#include "total.h"

int main() {
    int n;
    if (std::scanf("%d", &n) != 1) return 1;
    std::vector<long long> values(n);
    for (auto &v : values) std::scanf("%lld", &v);
    std::printf("%lld\n", total(values));
    return 0;
}
