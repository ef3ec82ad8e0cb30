# Generates the API reference and checks it:
#   cmake -DDOXYGEN=<doxygen> -DDOXYFILE=<configured Doxyfile> -DWARN_LOG=<its WARN_LOGFILE>
#         -DSOURCE_DIR=<source tree> [-DOUTPUT_DIR=<where the html goes>] [-DREPORT_ONLY=ON]
#         -P docs/check_api_docs.cmake
# Fails listing (with REPORT_ONLY, only counts them)
# - every public entity Doxygen finds without a comment ("... is not documented"),
# - every other Doxygen warning (unknown commands, broken references, bad markup),
# - every public header (include/per/*.hpp) without a "/// @file" comment: Doxygen checks the
#   macros of documented files only, and lists only those.
# docs/CMakeLists.txt runs it as the target per_docs (REPORT_ONLY) and the test per_api_docs.
cmake_minimum_required(VERSION 3.21)

foreach(required IN ITEMS DOXYGEN DOXYFILE WARN_LOG SOURCE_DIR)
    if(NOT DEFINED ${required})
        message(FATAL_ERROR "check_api_docs.cmake: -D${required}=... is required")
    endif()
endforeach()

file(REMOVE "${WARN_LOG}")
execute_process(COMMAND "${DOXYGEN}" "${DOXYFILE}" RESULT_VARIABLE doxygen_result
                OUTPUT_VARIABLE doxygen_output ERROR_VARIABLE doxygen_output)
if(NOT doxygen_result EQUAL 0)
    message(FATAL_ERROR "doxygen failed (${doxygen_result}):\n${doxygen_output}")
endif()

set(undocumented "")
set(other_warnings "")
if(EXISTS "${WARN_LOG}")
    file(STRINGS "${WARN_LOG}" log_lines)
    foreach(line IN LISTS log_lines)
        string(REPLACE "${SOURCE_DIR}/" "" line "${line}")
        if(line MATCHES "is not documented")
            list(APPEND undocumented "${line}")
        elseif(NOT line STREQUAL "")
            list(APPEND other_warnings "${line}")
        endif()
    endforeach()
endif()
# Doxygen also prints some problems (in the configuration, say) on its own output.
string(REGEX MATCHALL "[^\n]*(warning|error):[^\n]*" output_warnings "${doxygen_output}")
list(APPEND other_warnings ${output_warnings})

set(missing_file_comment "")
file(GLOB public_headers RELATIVE "${SOURCE_DIR}" "${SOURCE_DIR}/include/per/*.hpp")
foreach(header IN LISTS public_headers)
    file(STRINGS "${SOURCE_DIR}/${header}" file_comment REGEX "^/// *[@\\\\]file")
    if(NOT file_comment)
        list(APPEND missing_file_comment "${header}: no \"/// @file\" comment")
    endif()
endforeach()

list(SORT undocumented COMPARE NATURAL)
list(LENGTH undocumented undocumented_count)
list(LENGTH other_warnings other_count)
list(LENGTH missing_file_comment missing_count)
set(report "")
if(missing_count GREATER 0)
    list(JOIN missing_file_comment "\n  " lines)
    string(APPEND report "\n${missing_count} public headers without a file comment:\n  ${lines}\n")
endif()
if(undocumented_count GREATER 0)
    list(JOIN undocumented "\n  " lines)
    string(APPEND report
           "\n${undocumented_count} undocumented public entities (give each a /// comment):\n  ${lines}\n")
endif()
if(other_count GREATER 0)
    list(JOIN other_warnings "\n  " lines)
    string(APPEND report "\n${other_count} other Doxygen warnings:\n  ${lines}\n")
endif()

if(DEFINED OUTPUT_DIR)
    set(where " (${OUTPUT_DIR}/html/index.html)")
endif()
if(report STREQUAL "")
    message(STATUS "API reference: every public entity is documented${where}")
elseif(REPORT_ONLY)
    message(WARNING "API reference generated${where}, with problems: ${undocumented_count} "
                    "undocumented public entities, ${other_count} other Doxygen warnings, "
                    "${missing_count} public headers without a file comment. The test "
                    "per_api_docs lists them (ctest -L api-docs); Doxygen's own log: ${WARN_LOG}")
else()
    message(FATAL_ERROR "API reference check failed:${report}")
endif()
