#ifndef PER_TESTS_FRAGILE_ITEM_HPP
#define PER_TESTS_FRAGILE_ITEM_HPP

// An int whose copies can be made to throw: the item of the tests of the strong guarantee of
// copy assignment (test_special_members.cpp, the fuzzer). Moves never throw.

#include <stdexcept>

namespace per_test {

/// Copies left before a copy of a fragile_item throws (every copy then throws until this is
/// set again); negative: copies never throw.
inline long copies_until_failure = -1;

/// What a fragile_item's copy throws.
struct copy_failure : std::runtime_error {
    copy_failure()
        : std::runtime_error("fragile_item: copy failed on purpose") {}
};

struct fragile_item {
    int value = 0;

    fragile_item() = default;
    explicit fragile_item(int v)
        : value(v) {}
    fragile_item(const fragile_item& other)
        : value(other.value) {
        count_copy();
    }
    fragile_item(fragile_item&&) noexcept = default;
    fragile_item& operator=(const fragile_item& other) {
        count_copy();
        value = other.value;
        return *this;
    }
    fragile_item& operator=(fragile_item&&) noexcept = default;
    ~fragile_item() = default;

    static void count_copy() {
        if (copies_until_failure == 0) {
            throw copy_failure();
        }
        if (copies_until_failure > 0) {
            --copies_until_failure;
        }
    }
};

} // namespace per_test

#endif // PER_TESTS_FRAGILE_ITEM_HPP
