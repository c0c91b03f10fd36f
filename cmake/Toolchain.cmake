# Compiler launcher, warnings and sanitizers shared by every target of the project.

if(DIFFEDIT_USE_CCACHE)
  find_program(CCACHE_PROGRAM ccache)
  if(CCACHE_PROGRAM)
    set(CMAKE_CXX_COMPILER_LAUNCHER "${CCACHE_PROGRAM}")
    message(STATUS "diffedit: compiling through ${CCACHE_PROGRAM}")
  endif()
endif()

# An interface target that every project target links: warnings + sanitizer flags.
add_library(diffedit_options INTERFACE)
# Designated initializers leave the members they do not name at their defaults on purpose (the
# metric registry's entries, option structs): -Wextra's missing-field-initializers would flag each.
target_compile_options(diffedit_options INTERFACE -Wall -Wextra -Wno-missing-field-initializers)
if(DIFFEDIT_WERROR)
  target_compile_options(diffedit_options INTERFACE -Werror)
  message(STATUS "diffedit: warnings are errors")
endif()

if(DIFFEDIT_SANITIZE)
  set(_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_compile_options(diffedit_options INTERFACE ${_san})
  target_link_options(diffedit_options INTERFACE ${_san})
  message(STATUS "diffedit: ASan + UBSan enabled")
endif()

# The libFuzzer build (scripts/fuzz.sh): every target is instrumented for coverage, ASan and UBSan;
# the fuzz executables add libFuzzer's main (fuzz/CMakeLists.txt).
if(DIFFEDIT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "DIFFEDIT_FUZZ needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  set(_fuzz -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g -O1)
  target_compile_options(diffedit_options INTERFACE ${_fuzz})
  target_link_options(diffedit_options INTERFACE -fsanitize=address,undefined)
  message(STATUS "diffedit: libFuzzer build (coverage, ASan, UBSan)")
endif()
