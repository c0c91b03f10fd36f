# Generates ${CMAKE_BINARY_DIR}/generated/version.cpp with the project version and the git
# revision of the source tree. It runs on every build (not only at configure time) so the
# revision recorded in results never goes stale; the file is rewritten only when it changes.

set(DIFFEDIT_GENERATED_DIR "${CMAKE_BINARY_DIR}/generated")
set(DIFFEDIT_VERSION_CPP "${DIFFEDIT_GENERATED_DIR}/version.cpp")
add_custom_target(diffedit_git_revision
  COMMAND ${CMAKE_COMMAND}
          -DSOURCE_DIR=${CMAKE_SOURCE_DIR}
          -DOUTPUT=${DIFFEDIT_VERSION_CPP}
          -DVERSION=${PROJECT_VERSION}
          -P ${CMAKE_SOURCE_DIR}/cmake/WriteVersion.cmake
  BYPRODUCTS ${DIFFEDIT_VERSION_CPP}
  COMMENT "Recording git revision"
  VERBATIM)
