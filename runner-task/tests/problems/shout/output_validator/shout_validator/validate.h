#include <cctype>
#include <string>

// The line shouted: every letter in upper case.
inline std::string shouted(const std::string& s) {
    std::string out = s;
    for (char& c : out) c = std::toupper(static_cast<unsigned char>(c));
    return out;
}
