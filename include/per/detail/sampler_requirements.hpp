#ifndef PER_DETAIL_SAMPLER_REQUIREMENTS_HPP
#define PER_DETAIL_SAMPLER_REQUIREMENTS_HPP

#include "../replay_handle.hpp"
#include "../replay_options.hpp"
#include "../sample_batch.hpp"

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

namespace per::detail {

// The Sampler requirements of replay_buffer<Item, Sampler>, checked member by member so that a
// type that misses one gets a compile error naming it. A Sampler S, for s an S, cs a const S,
// slot and count of type std::size_t, p a double, g any UniformRandomBitGenerator, b a
// sample_batch, h a replay_handle, hs a const replay_handle*, ps a const double*, and ws
// double*:
//   S(capacity, replay_options)                       constructs an empty sampler
//   cs.capacity(), cs.size()                           std::size_t
//   cs.empty()                                         bool
//   cs.max_priority(), cs.priority_limit(), cs.alpha() double
//   cs.options()                                       const replay_options&
//   s.fill(slot), s.fill(slot, p)                      replay_handle: the slot's new handle;
//                                                      fill(slot, p) must not throw for a p in
//                                                      [0, priority_limit()] and slot < capacity
//   s.sample(count, p, g, b)                           fills the batch
//   s.sample_into(count, p, g, ws_handles, ws, ws)     into caller arrays
//   s.update_priorities(hs, ps, count)                 std::size_t: updates applied
//   s.update_priorities(handles, priorities)           the same for two contiguous ranges
//   s.update_priority(h, p)                            bool
//   cs.priority(slot), cs.probability(slot)            double
//   cs.handle(slot)                                    replay_handle
//   s.set_alpha(p), s.clear()
// basic_sampler<Index> meets them for every Index.

// A UniformRandomBitGenerator for the checks below (never called).
struct probe_generator {
    using result_type = std::uint64_t;
    static constexpr result_type min() noexcept { return 0; }
    static constexpr result_type max() noexcept { return ~result_type(0); }
    result_type operator()() noexcept { return 0; }
};

template <class S, class = void>
struct has_capacity_and_size : std::false_type {};
template <class S>
struct has_capacity_and_size<
    S, std::enable_if_t<
           std::is_convertible_v<decltype(std::declval<const S&>().capacity()), std::size_t> &&
           std::is_convertible_v<decltype(std::declval<const S&>().size()), std::size_t> &&
           std::is_convertible_v<decltype(std::declval<const S&>().empty()), bool>>>
    : std::true_type {};

template <class S, class = void>
struct has_priority_observers : std::false_type {};
template <class S>
struct has_priority_observers<
    S,
    std::enable_if_t<
        std::is_convertible_v<decltype(std::declval<const S&>().max_priority()), double> &&
        std::is_convertible_v<decltype(std::declval<const S&>().priority_limit()), double> &&
        std::is_convertible_v<decltype(std::declval<const S&>().alpha()), double> &&
        std::is_convertible_v<decltype(std::declval<const S&>().options()), const replay_options&>>>
    : std::true_type {};

template <class S, class = void>
struct has_fill : std::false_type {};
template <class S>
struct has_fill<
    S, std::enable_if_t<
           std::is_same_v<decltype(std::declval<S&>().fill(std::size_t{})), replay_handle> &&
           std::is_same_v<decltype(std::declval<S&>().fill(std::size_t{}, 1.0)), replay_handle>>>
    : std::true_type {};

template <class S, class = void>
struct has_sample : std::false_type {};
template <class S>
struct has_sample<
    S, std::void_t<
           decltype(std::declval<S&>().sample(std::size_t{}, 1.0, std::declval<probe_generator&>(),
                                              std::declval<sample_batch&>())),
           decltype(std::declval<S&>().sample_into(
               std::size_t{}, 1.0, std::declval<probe_generator&>(), std::declval<replay_handle*>(),
               std::declval<double*>(), std::declval<double*>()))>> : std::true_type {};

template <class S, class = void>
struct has_update_priorities : std::false_type {};
template <class S>
struct has_update_priorities<
    S, std::enable_if_t<std::is_convertible_v<decltype(std::declval<S&>().update_priorities(
                                                  std::declval<const replay_handle*>(),
                                                  std::declval<const double*>(), std::size_t{})),
                                              std::size_t> &&
                        std::is_convertible_v<decltype(std::declval<S&>().update_priorities(
                                                  std::declval<const std::vector<replay_handle>&>(),
                                                  std::declval<const std::vector<double>&>())),
                                              std::size_t> &&
                        std::is_convertible_v<decltype(std::declval<S&>().update_priority(
                                                  std::declval<replay_handle>(), 1.0)),
                                              bool>>> : std::true_type {};

template <class S, class = void>
struct has_slot_observers : std::false_type {};
template <class S>
struct has_slot_observers<
    S,
    std::enable_if_t<
        std::is_convertible_v<decltype(std::declval<const S&>().priority(std::size_t{})), double> &&
        std::is_convertible_v<decltype(std::declval<const S&>().probability(std::size_t{})),
                              double> &&
        std::is_same_v<decltype(std::declval<const S&>().handle(std::size_t{})), replay_handle>>>
    : std::true_type {};

template <class S, class = void>
struct has_set_alpha_and_clear : std::false_type {};
template <class S>
struct has_set_alpha_and_clear<S, std::void_t<decltype(std::declval<S&>().set_alpha(1.0)),
                                              decltype(std::declval<S&>().clear())>>
    : std::true_type {};

// value is true; each requirement a Sampler misses fails its own static_assert first.
template <class S>
struct sampler_requirements {
    static_assert(std::is_constructible_v<S, std::size_t, replay_options>,
                  "Sampler: needs a constructor Sampler(std::size_t capacity, replay_options)");
    static_assert(has_capacity_and_size<S>::value,
                  "Sampler: needs capacity() and size() (std::size_t) and empty() (bool), const");
    static_assert(has_priority_observers<S>::value,
                  "Sampler: needs max_priority(), priority_limit(), alpha() (double) and "
                  "options() (const replay_options&), const");
    static_assert(has_fill<S>::value,
                  "Sampler: needs fill(slot) and fill(slot, priority) returning replay_handle");
    static_assert(has_sample<S>::value,
                  "Sampler: needs sample(batch_size, beta, generator, sample_batch&) and "
                  "sample_into(batch_size, beta, generator, replay_handle*, double*, double*)");
    static_assert(has_update_priorities<S>::value,
                  "Sampler: needs update_priorities(const replay_handle*, const double*, count), "
                  "update_priorities(handles, priorities) and update_priority(handle, priority)");
    static_assert(has_slot_observers<S>::value,
                  "Sampler: needs priority(slot), probability(slot) (double) and handle(slot) "
                  "(replay_handle), const");
    static_assert(has_set_alpha_and_clear<S>::value, "Sampler: needs set_alpha(alpha) and clear()");
    static constexpr bool value = true;
};

} // namespace per::detail

#endif // PER_DETAIL_SAMPLER_REQUIREMENTS_HPP
