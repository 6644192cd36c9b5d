# The version header and the shared libraries' SOVERSION, both from
# project(ssekit VERSION ...). While the major version is 0 a minor version
# may break the ABI, so the SOVERSION is MAJOR.MINOR; from 1.0 on, MAJOR
# (the package version file follows the same rule: ssekitInstall.cmake).
configure_file(${CMAKE_CURRENT_LIST_DIR}/version.hpp.in
               ${PROJECT_BINARY_DIR}/include/ssekit/version.hpp @ONLY)
target_include_directories(ssekit_core PUBLIC $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>)

if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(SSEKIT_SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
  set(SSEKIT_VERSION_COMPATIBILITY SameMinorVersion)
else()
  set(SSEKIT_SOVERSION ${PROJECT_VERSION_MAJOR})
  set(SSEKIT_VERSION_COMPATIBILITY SameMajorVersion)
endif()
set_target_properties(ssekit_core PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${SSEKIT_SOVERSION})
