// Refused: raw items must be trivially copyable (a std::string needs an item serializer).
#include <per/checkpoint.hpp>

#include <ostream>
#include <string>

void save_strings(std::ostream& out, const per::prioritized_replay<std::string>& buffer) {
    per::save(out, buffer);
}
