// Refused: a prioritized_replay over a sampler type that has no checkpoint kind.
#include <per/checkpoint.hpp>

#include <ostream>

struct own_sampler {};

void save_buffer(std::ostream& out, const per::prioritized_replay<int, own_sampler>& buffer) {
    per::save(out, buffer);
}
