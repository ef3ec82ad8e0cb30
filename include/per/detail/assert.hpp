#ifndef PER_DETAIL_ASSERT_HPP
#define PER_DETAIL_ASSERT_HPP

/// Internal invariants (never user input: that is validated and reported with exceptions).
/// Define PER_ASSERT before including any per header to route them elsewhere, e.g. to a logger
/// or to a macro that is active in release builds. By default they follow <cassert>: active
/// unless NDEBUG is defined.
#ifndef PER_ASSERT
#include <cassert>
#define PER_ASSERT(condition) assert(condition)
#endif

#endif // PER_DETAIL_ASSERT_HPP
