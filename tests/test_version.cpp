#include <per/version.hpp>

#include "per_catch.hpp"

#include <cstdlib>
#include <string>

// tests/CMakeLists.txt passes CMake's PROJECT_VERSION (and its three parts) in as
// PER_PROJECT_VERSION*. CMakeLists.txt sets project(VERSION) from the lines of version.hpp: if
// it ever parsed the wrong line or part, or the header changed without CMake seeing it, the two
// would disagree here.
#if !defined(PER_PROJECT_VERSION) || !defined(PER_PROJECT_VERSION_MAJOR) ||                        \
    !defined(PER_PROJECT_VERSION_MINOR) || !defined(PER_PROJECT_VERSION_PATCH)
#error "tests/CMakeLists.txt must define PER_PROJECT_VERSION* from CMake's PROJECT_VERSION"
#endif

TEST_CASE("version macros agree with the CMake project version", "[version]") {
    STATIC_REQUIRE(PER_VERSION_MAJOR == PER_PROJECT_VERSION_MAJOR);
    STATIC_REQUIRE(PER_VERSION_MINOR == PER_PROJECT_VERSION_MINOR);
    STATIC_REQUIRE(PER_VERSION_PATCH == PER_PROJECT_VERSION_PATCH);
    CHECK(std::string(PER_VERSION_STRING) == PER_PROJECT_VERSION);
}

TEST_CASE("the version string reads back as CMake's MAJOR.MINOR.PATCH", "[version]") {
    // Parsed here, number by number, and compared with the parts CMake computed: a string
    // macro that lost or reordered a part, or used another separator, fails.
    const std::string text = PER_VERSION_STRING;
    CAPTURE(text);
    const char* cursor = text.c_str();
    char* end = nullptr;
    long parts[3] = {-1, -1, -1};
    for (int part = 0; part < 3; ++part) {
        REQUIRE(*cursor >= '0');
        REQUIRE(*cursor <= '9');
        parts[part] = std::strtol(cursor, &end, 10);
        REQUIRE(*end == (part < 2 ? '.' : '\0'));
        cursor = end + 1;
    }
    CHECK(parts[0] == PER_PROJECT_VERSION_MAJOR);
    CHECK(parts[1] == PER_PROJECT_VERSION_MINOR);
    CHECK(parts[2] == PER_PROJECT_VERSION_PATCH);
}
