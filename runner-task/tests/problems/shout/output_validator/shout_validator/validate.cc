#include <fstream>
#include <iostream>
#include <string>

#include "validate.h"

// Output validator: argv[1] the input, stdin the team's output.
int main(int argc, char** argv) {
    if (argc < 4) return 1;
    std::ifstream in(argv[1]);
    std::string line, got;
    std::getline(in, line);
    std::getline(std::cin, got);
    return got == shouted(line) ? 42 : 43;
}
