// Right totals, but by std::accumulate: the static validator refuses it.
#include <numeric>

#include "total.h"

long long total(const std::vector<long long> &values) {
    return std::accumulate(values.begin(), values.end(), 0LL);
}
