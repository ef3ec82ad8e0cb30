# cmake -D SOURCE_DIR=<repo> -D README=README.md -D SNIPPET=examples/quickstart.cpp
#       -D OUTPUT_DIR=<dir> -P check_readme_snippet.cmake
#
# The README shows SNIPPET in the ```cpp fence that follows the line
#   <!-- quickstart: SNIPPET -->
# Fails unless that fence holds exactly the file's content, so the snippet readers copy is the
# program the build compiles and runs.
foreach(variable IN ITEMS SOURCE_DIR README SNIPPET OUTPUT_DIR)
    if(NOT DEFINED ${variable})
        message(FATAL_ERROR "check_readme_snippet.cmake: -D ${variable}=... is required")
    endif()
endforeach()

file(READ "${SOURCE_DIR}/${README}" readme)
file(READ "${SOURCE_DIR}/${SNIPPET}" expected)
# A checkout with CRLF line endings must not fail the comparison.
string(REPLACE "\r\n" "\n" readme "${readme}")
string(REPLACE "\r\n" "\n" expected "${expected}")

set(marker "<!-- quickstart: ${SNIPPET} -->\n")
string(FIND "${readme}" "${marker}" position)
if(position EQUAL -1)
    message(FATAL_ERROR "${README}: no line '<!-- quickstart: ${SNIPPET} -->'")
endif()
string(LENGTH "${marker}" length)
math(EXPR position "${position} + ${length}")
string(SUBSTRING "${readme}" ${position} -1 rest)

set(fence_open "```cpp\n")
string(FIND "${rest}" "${fence_open}" fence)
if(NOT fence EQUAL 0)
    message(FATAL_ERROR "${README}: the line after the quickstart marker must open a ```cpp fence")
endif()
string(LENGTH "${fence_open}" length)
string(SUBSTRING "${rest}" ${length} -1 rest)
string(FIND "${rest}" "\n```" fence)
if(fence EQUAL -1)
    message(FATAL_ERROR "${README}: the quickstart's ```cpp fence is never closed")
endif()
math(EXPR length "${fence} + 1") # keep the snippet's last newline, as the file has one
string(SUBSTRING "${rest}" 0 ${length} snippet)

if(NOT snippet STREQUAL expected)
    set(extracted "${OUTPUT_DIR}/readme_snippet.cpp")
    file(WRITE "${extracted}" "${snippet}")
    message(FATAL_ERROR
            "The quickstart in ${README} differs from ${SNIPPET}. Make them identical; see\n"
            "  diff -u ${SOURCE_DIR}/${SNIPPET} ${extracted}")
endif()
message(STATUS "${README} quickstart == ${SNIPPET}")
