#include <fstream>
#include <iostream>
#include <string>

int main() {
    std::string word, line;
    std::cin >> word;
    std::ifstream words("words.txt");
    for (int n = 1; std::getline(words, line); n++) {
        if (line == word) {
            std::cout << n << "\n";
            return 0;
        }
    }
    return 1;
}
