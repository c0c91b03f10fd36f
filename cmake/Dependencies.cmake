# Every external dependency comes from Debian's packages (scripts/setup.sh installs them); a
# PyTorch installation's libtorch may replace Debian's (DIFFEDIT_TORCH_DIR).

if(DIFFEDIT_TORCH_DIR)
  list(PREPEND CMAKE_PREFIX_PATH "${DIFFEDIT_TORCH_DIR}")
endif()
find_package(Torch REQUIRED)            # libtorch-dev (1.13.1, CPU; a CUDA build is used when found)
find_package(nlohmann_json REQUIRED)
find_package(ICU REQUIRED COMPONENTS uc i18n)  # Unicode data for prompt cleaning (NFC, case mapping, \p{L})
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)  # libtorch's own threading runtime; see diffedit_toyworld
message(STATUS "diffedit: libtorch ${Torch_VERSION} from ${Torch_DIR}")

# TorchConfig exports its flags as a variable rather than on the target; wrap them once.
add_library(diffedit_torch INTERFACE)
target_link_libraries(diffedit_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(diffedit_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
separate_arguments(_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
target_compile_options(diffedit_torch INTERFACE ${_torch_flags})

if(DIFFEDIT_TRAINER_ONLY)
  return()  # the toy-sd trainer needs nothing more
endif()

if(DIFFEDIT_GPU_CHECK)
  # scripts/gpu-check.sh's build, from the libraries scripts/gpu-check/bundle.sh packs: images
  # through libpng and libjpeg (src/image/codec_libpng.cpp) instead of OpenCV, whose Debian build pulls
  # ~200 MB of libraries; HDF5's static archive, whose objects that the project uses need only
  # libsz and zlib (Debian's shared libhdf5 needs libcurl and its ~25 libraries for an S3 driver).
  find_package(PNG REQUIRED)
  find_package(JPEG REQUIRED)
  find_package(ZLIB REQUIRED)
  find_path(DIFFEDIT_HDF5_INCLUDE_DIR hdf5.h PATH_SUFFIXES hdf5/serial REQUIRED)
  find_library(DIFFEDIT_HDF5_ARCHIVE NAMES libhdf5_serial.a libhdf5.a PATH_SUFFIXES hdf5/serial REQUIRED)
  find_library(DIFFEDIT_SZ_LIBRARY NAMES sz REQUIRED)
  set(HDF5_C_INCLUDE_DIRS ${DIFFEDIT_HDF5_INCLUDE_DIR})
  set(HDF5_C_LIBRARIES ${DIFFEDIT_HDF5_ARCHIVE} ${DIFFEDIT_SZ_LIBRARY} ZLIB::ZLIB ${CMAKE_DL_LIBS} m)
  message(STATUS "diffedit: gpu-check build (HDF5 ${DIFFEDIT_HDF5_ARCHIVE}, PNG ${PNG_LIBRARIES}, JPEG ${JPEG_LIBRARIES})")
else()
  find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs)
  find_package(Eigen3 REQUIRED NO_MODULE)
  find_package(TBB REQUIRED)
  find_package(HDF5 REQUIRED COMPONENTS C)
endif()
find_package(CLI11 REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)  # SHA-256 of weights and image lists (cache keys, provenance)
if(DIFFEDIT_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(DIFFEDIT_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()

add_library(diffedit_hdf5 INTERFACE)
target_include_directories(diffedit_hdf5 SYSTEM INTERFACE ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS})
target_link_libraries(diffedit_hdf5 INTERFACE ${HDF5_C_LIBRARIES})
target_compile_definitions(diffedit_hdf5 INTERFACE ${HDF5_C_DEFINITIONS})
