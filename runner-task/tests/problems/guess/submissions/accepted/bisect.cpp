#include <iostream>
#include <string>
int main() {
    int lo = 1, hi = 1000;
    for (;;) {
        int mid = (lo + hi) / 2;
        std::cout << mid << std::endl;
        std::string r;
        if (!(std::cin >> r) || r == "=") return 0;
        if (r == "<") hi = mid - 1; else lo = mid + 1;
    }
}
