#include <per/version.hpp>

#include "per_catch.hpp"

#include <string>

// CMakeLists.txt reads the version from version.hpp and passes project(VERSION) back in as
// PER_PROJECT_VERSION_*: if parsing ever picked the wrong line, the two would disagree here.
TEST_CASE("version macros agree with the CMake project version", "[version]") {
    STATIC_REQUIRE(PER_VERSION_MAJOR == PER_PROJECT_VERSION_MAJOR);
    STATIC_REQUIRE(PER_VERSION_MINOR == PER_PROJECT_VERSION_MINOR);
    STATIC_REQUIRE(PER_VERSION_PATCH == PER_PROJECT_VERSION_PATCH);
    CHECK(std::string(PER_VERSION_STRING) == PER_PROJECT_VERSION);
}

TEST_CASE("the version string is MAJOR.MINOR.PATCH", "[version]") {
    const std::string expected = std::to_string(PER_VERSION_MAJOR) + "." +
                                 std::to_string(PER_VERSION_MINOR) + "." +
                                 std::to_string(PER_VERSION_PATCH);
    CHECK(PER_VERSION_STRING == expected);
}
