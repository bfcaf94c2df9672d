#include "total.h"

long long total(const std::vector<long long> &values) {
    long long sum = 0;
    for (long long v : values) sum += v;
    return sum;
}
