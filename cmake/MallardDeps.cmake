# Finds Mallard's dependencies. Each missing one stops configuration with one line saying
# what to install (scripts/deps.sh installs all of them).
find_package(PkgConfig QUIET)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: run scripts/deps.sh (or apt-get install pkg-config)")
endif()

function(mallard_require_pkg var module debpkg)
  pkg_check_modules(${var} QUIET IMPORTED_TARGET ${module})
  if(NOT ${var}_FOUND)
    message(FATAL_ERROR "${module} not found: run scripts/deps.sh (or apt-get install ${debpkg})")
  endif()
endfunction()

mallard_require_pkg(GRPC grpc libgrpc-dev)
mallard_require_pkg(PROTOBUFC libprotobuf-c libprotobuf-c-dev)
mallard_require_pkg(LZ4 liblz4 liblz4-dev)
mallard_require_pkg(ZSTD libzstd libzstd-dev)
mallard_require_pkg(SODIUM libsodium libsodium-dev)

find_program(PROTOC_C NAMES protoc-c protoc-gen-c)
if(NOT PROTOC_C)
  message(FATAL_ERROR "protoc-c not found: run scripts/deps.sh (or apt-get install protobuf-c-compiler)")
endif()

# DuckDB: DUCKDB_PREFIX (cache or environment) points at an install holding include/duckdb.h
# and lib/libduckdb.so; the default is the pinned 1.4.4 that scripts/deps.sh puts in deps/.
if(NOT DEFINED DUCKDB_PREFIX)
  if(DEFINED ENV{DUCKDB_PREFIX})
    set(DUCKDB_PREFIX "$ENV{DUCKDB_PREFIX}")
  else()
    set(DUCKDB_PREFIX "${CMAKE_SOURCE_DIR}/deps/duckdb")
  endif()
endif()
set(DUCKDB_PREFIX "${DUCKDB_PREFIX}" CACHE PATH "Where DuckDB's include/duckdb.h and lib/libduckdb.so are")
if(NOT EXISTS "${DUCKDB_PREFIX}/include/duckdb.h" OR NOT EXISTS "${DUCKDB_PREFIX}/lib/libduckdb.so")
  message(FATAL_ERROR "DuckDB not found in ${DUCKDB_PREFIX}: run scripts/deps.sh (or set DUCKDB_PREFIX to a DuckDB >= 1.4 install)")
endif()
add_library(duckdb SHARED IMPORTED GLOBAL)
set_target_properties(duckdb PROPERTIES IMPORTED_LOCATION "${DUCKDB_PREFIX}/lib/libduckdb.so"
                      INTERFACE_INCLUDE_DIRECTORIES "${DUCKDB_PREFIX}/include")
set(CMAKE_BUILD_RPATH "${DUCKDB_PREFIX}/lib")
set(CMAKE_INSTALL_RPATH "${DUCKDB_PREFIX}/lib")

find_package(Threads REQUIRED)
