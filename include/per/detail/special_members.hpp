#ifndef PER_DETAIL_SPECIAL_MEMBERS_HPP
#define PER_DETAIL_SPECIAL_MEMBERS_HPP

#include <type_traits>
#include <utility>

// The two building blocks of the copy and move operations of every class that holds more than
// one piece of storage (trees, indexes, samplers, buffers). The contract they implement, stated
// once in the README ("Copies and moves"):
// - copy assignment has the strong guarantee: if copying an element or allocating throws, the
//   target is exactly as before (a member-by-member copy would leave some members copied and
//   others not);
// - moves are noexcept, and a moved-from object is empty with capacity 0 (its counters reset
//   with its storage, so that it never reports items it no longer holds), and keeps its
//   settings (options, alpha, max priority);
// - self-assignment of either kind changes nothing.

namespace per::detail {

/// Copy assignment with the strong guarantee: copies `source` first (which may throw, leaving
/// `target` untouched), then moves the copy into `target`, which cannot throw.
template <class T>
T& assign_copy(T& target, const T& source) {
    static_assert(std::is_nothrow_move_assignable_v<T>,
                  "assign_copy needs a noexcept move assignment");
    if (&target != &source) {
        T copy(source);
        target = std::move(copy);
    }
    return target;
}

/// Move-assigns a container and leaves the source empty: the standard only promises "valid but
/// unspecified" for a moved-from container after move assignment, and every class here states
/// that its moved-from storage is empty. Precondition: &target != &source.
template <class Container>
void move_and_empty(Container& target, Container& source) noexcept {
    target = std::move(source);
    source.clear();
}

} // namespace per::detail

#endif // PER_DETAIL_SPECIAL_MEMBERS_HPP
