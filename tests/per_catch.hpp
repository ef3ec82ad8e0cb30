#ifndef PER_TESTS_PER_CATCH_HPP
#define PER_TESTS_PER_CATCH_HPP

// One include for every test file, whichever Catch2 the machine has: Debian ships v2.13
// (single header), upstream is v3 (split headers). tests/CMakeLists.txt defines PER_CATCH2_V3
// when it found v3.
#if defined(PER_CATCH2_V3)
#include <catch2/catch_all.hpp>
using Catch::Approx;
// Substring matcher for REQUIRE_THROWS_WITH(expression, PER_CONTAINS("value = -1")).
#define PER_CONTAINS(text) Catch::Matchers::ContainsSubstring(text)
#else
#include <catch2/catch.hpp>
#define PER_CONTAINS(text) Catch::Matchers::Contains(text)
#endif

#endif // PER_TESTS_PER_CATCH_HPP
