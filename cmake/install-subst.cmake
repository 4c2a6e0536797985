# Runs at install time (install(CODE) from netd_install_configured()): copies
# IN to DEST/NAME under the prefix chosen *now* ("cmake --install --prefix P",
# "make install PREFIX=P"), with @NETD_PREFIX@, @NETD_BINDIR@, @NETD_LIBDIR@
# and @NETD_INCLUDEDIR@ replaced by the final paths. A path configured at
# build time would be the build's default prefix instead.
foreach(v IN ITEMS NETD_SUBST_IN NETD_SUBST_DEST NETD_SUBST_NAME NETD_SUBST_BINDIR
                   NETD_SUBST_LIBDIR NETD_SUBST_INCLUDEDIR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "install-subst.cmake: ${v} is not set")
  endif()
endforeach()

# Relative directories (the GNUInstallDirs defaults) are under the prefix.
function(netd_subst_full out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

set(NETD_PREFIX "${CMAKE_INSTALL_PREFIX}")
netd_subst_full(NETD_BINDIR "${NETD_SUBST_BINDIR}")
netd_subst_full(NETD_LIBDIR "${NETD_SUBST_LIBDIR}")
netd_subst_full(NETD_INCLUDEDIR "${NETD_SUBST_INCLUDEDIR}")
netd_subst_full(dest "${NETD_SUBST_DEST}")
# Written straight to its place (nothing in the build tree, which an
# unprivileged installer may not own), then recorded as file(INSTALL) would.
set(final "$ENV{DESTDIR}${dest}/${NETD_SUBST_NAME}")
message(STATUS "Installing: ${final}")
file(MAKE_DIRECTORY "$ENV{DESTDIR}${dest}")
configure_file("${NETD_SUBST_IN}" "${final}" @ONLY)
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${final}")
