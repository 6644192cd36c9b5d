# Install and export: ssekit::core always, ssekit::native when built (its own
# export set, so find_package(ssekit) without components needs no Boost),
# the CMake package, and pkg-config files.
include(CMakePackageConfigHelpers)
set(_ssekit_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/ssekit)

install(TARGETS ssekit_core EXPORT ssekitTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/core/include/ssekit ${PROJECT_BINARY_DIR}/include/ssekit
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT ssekitTargets NAMESPACE ssekit:: DESTINATION ${_ssekit_cmake_dir})

set(SSEKIT_NATIVE_BUILT ${SSEKIT_BUILD_NATIVE})
if(SSEKIT_BUILD_NATIVE)
  install(TARGETS ssekit_native EXPORT ssekitNativeTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  # The client's headers only: demo_server.hpp belongs to the programs.
  install(FILES ${PROJECT_SOURCE_DIR}/native/include/ssekit/client.hpp
                ${PROJECT_SOURCE_DIR}/native/include/ssekit/event_stream.hpp
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ssekit)
  install(EXPORT ssekitNativeTargets NAMESPACE ssekit:: DESTINATION ${_ssekit_cmake_dir})
endif()

# Shared libraries in a prefix the loader does not search (/opt/ssekit):
# libssekit_native needs libssekit_core, and a program that calls only the
# client does not list libssekit_core itself (linkers drop it with
# --as-needed), so the program's RUNPATH does not reach it. The installed
# libssekit_native finds it next to itself; installed programs find both
# from bin/. Appended: a CMAKE_INSTALL_RPATH of the user's stays.
if(APPLE)
  set(_ssekit_origin @loader_path)
else()
  set(_ssekit_origin $ORIGIN)
endif()
if(SSEKIT_BUILD_NATIVE)
  get_target_property(_ssekit_native_type ssekit_native TYPE)
  if(_ssekit_native_type STREQUAL "SHARED_LIBRARY")
    set_property(TARGET ssekit_native APPEND PROPERTY INSTALL_RPATH "${_ssekit_origin}")
  endif()
endif()
if(BUILD_SHARED_LIBS AND NOT IS_ABSOLUTE "${CMAKE_INSTALL_BINDIR}" AND NOT IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  file(RELATIVE_PATH _ssekit_bin_to_lib "/p/${CMAKE_INSTALL_BINDIR}" "/p/${CMAKE_INSTALL_LIBDIR}")
  foreach(_ssekit_program IN ITEMS sse-cat sse-serve)
    if(TARGET ${_ssekit_program})
      set_property(TARGET ${_ssekit_program} APPEND PROPERTY INSTALL_RPATH "${_ssekit_origin}/${_ssekit_bin_to_lib}")
    endif()
  endforeach()
endif()

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/ssekitConfig.cmake.in
        ${PROJECT_BINARY_DIR}/ssekitConfig.cmake
        INSTALL_DESTINATION ${_ssekit_cmake_dir})
# See ssekitVersion.cmake: SameMinorVersion while 0.x, SameMajorVersion after.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ssekitConfigVersion.cmake
        COMPATIBILITY ${SSEKIT_VERSION_COMPATIBILITY})
install(FILES ${PROJECT_BINARY_DIR}/ssekitConfig.cmake ${PROJECT_BINARY_DIR}/ssekitConfigVersion.cmake
        DESTINATION ${_ssekit_cmake_dir})

# pkg-config: ssekit (the core) and ssekit-native (the client). The prefix
# is found from the .pc file's own place, so `cmake --install --prefix`
# anywhere gives working files.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(SSEKIT_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(SSEKIT_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(SSEKIT_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH _ssekit_pc_up "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
  set(SSEKIT_PC_PREFIX "\${pcfiledir}/${_ssekit_pc_up}")
  set(SSEKIT_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(SSEKIT_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/ssekit.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/ssekit.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/ssekit.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(SSEKIT_BUILD_NATIVE)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/ssekit-native.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/ssekit-native.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/ssekit-native.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()

install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/ssekit)
