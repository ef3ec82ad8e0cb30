#ifndef PER_VERSION_HPP
#define PER_VERSION_HPP

/// @file
/// The library's version. CMakeLists.txt reads the three PER_VERSION_* number lines to set
/// project(VERSION), so this header is the single source of truth; tests/test_version.cpp checks
/// that both agree.

/// The major version number. find_package(per <version>) accepts an installed per of the same
/// major version (the package's version file says SameMajorVersion).
#define PER_VERSION_MAJOR 0
/// The minor version number.
#define PER_VERSION_MINOR 1
/// The patch version number.
#define PER_VERSION_PATCH 0

#define PER_VERSION_STRING_DETAIL_(x) #x
#define PER_VERSION_STRING_(major, minor, patch)                                                   \
    PER_VERSION_STRING_DETAIL_(major)                                                              \
    "." PER_VERSION_STRING_DETAIL_(minor) "." PER_VERSION_STRING_DETAIL_(patch)

/// "MAJOR.MINOR.PATCH" as a string literal.
#define PER_VERSION_STRING                                                                         \
    PER_VERSION_STRING_(PER_VERSION_MAJOR, PER_VERSION_MINOR, PER_VERSION_PATCH)

#endif // PER_VERSION_HPP
