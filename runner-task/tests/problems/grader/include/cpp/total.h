#include <vector>

// What a C++ submission implements.
long long total(const std::vector<long long> &values);
