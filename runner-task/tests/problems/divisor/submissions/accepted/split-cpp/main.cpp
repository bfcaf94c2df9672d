#include <iostream>
#include "divisors.h"

int main() {
    long long n;
    std::cin >> n;
    std::cout << smallest(n) << "\n";
}
