#include "total.h"

// Adds in 32 bits.
long long total(const std::vector<long long> &values) {
    int sum = 0;
    for (long long v : values) sum += (int)v;
    return sum;
}
